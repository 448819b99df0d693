/** The errors of pinning a tracker's CA, apart from the code that fetches it (and loads node:https). */

/** The tracker answered with a CA that does not match the pin (or no CA): never retried. */
export class CaPinError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CaPinError";
  }
}

/** The tracker could not be reached to fetch its CA: worth trying again later. */
export class CaFetchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "CaFetchError";
  }
}
