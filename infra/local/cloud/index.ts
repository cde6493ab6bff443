export { EMULATOR_NAMES, EMULATORS, type EmulatorName } from "./emulators.js";
export {
  EmulatorPackageMissingError,
  EmulatorStartError,
  JavaNotFoundError,
  LocalCloudError,
  PortInUseError,
} from "./errors.js";
export { findJava, MINIMUM_JAVA_VERSION } from "./java.js";
export {
  DEFAULT_PORT,
  DEFAULT_REGION,
  type HealthReport,
  type LocalCloud,
  type LocalCloudOptions,
  localCloudEnv,
  startLocalCloud,
} from "./local-cloud.js";
export { resolveService, SERVICES, type ServiceName } from "./routing.js";
