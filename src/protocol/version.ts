/** fabric's version, shown by `fabric --version` and sent by agents when they join. */
export const FABRIC_VERSION = "0.1.0";
