/**
 * The fault-injection scenarios (`tests/faults/scenarios.ts`) on an SQLite file shared by
 * real consumer processes.
 */
import { faultScenarios } from "./scenarios.ts";
import { sqliteTarget } from "./support.ts";

faultScenarios(sqliteTarget);
