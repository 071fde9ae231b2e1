/**
 * The rule every storage's `bind` follows: a storage serves one instance name; binding it
 * again to the same name is allowed, to another is a mistake.
 *
 * @module
 */

/**
 * Throws a `TypeError` when a storage bound to `current` (`bound`) is asked to serve
 * `name` instead.
 */
export function checkBinding(bound: boolean, current: string, name: string): void {
  if (bound && current !== name) {
    throw new TypeError(`Storage is already bound to "${current}"`);
  }
}
