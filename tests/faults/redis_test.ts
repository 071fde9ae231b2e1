/**
 * The fault-injection scenarios (`tests/faults/scenarios.ts`) on Redis over TCP: a private
 * `redis-server` per scenario (with a password in the URL, which no log may show), shared
 * by real consumer processes; scenario e restarts it in the middle of a drain.
 */
import { faultScenarios } from "./scenarios.ts";
import { redisTarget } from "./support.ts";

faultScenarios(redisTarget);
