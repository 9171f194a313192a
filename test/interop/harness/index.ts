/**
 * The interop harness: real sipp, Kamailio, baresip and sipwarden processes on free loopback ports.
 * Register `after(stopAll)` in every test file that starts something.
 */
export {
  Baresip,
  type BaresipEvent,
  type BaresipOptions,
  type BaresipResponse,
  baresipAvailable,
  startBaresip,
} from './baresip.ts';
export { type CertificateFiles, selfSignedCertificate } from './certs.ts';
export {
  CLAMAV_TESTFILES,
  Clamd,
  type ClamdOptions,
  clamdAvailable,
  EICAR,
  EICAR_SIGNATURE,
  startClamd,
} from './clamd.ts';
export {
  Kamailio,
  type KamailioOptions,
  type KamailioVariant,
  startKamailio,
  upstreamUri,
} from './kamailio.ts';
export { percentile } from './percentile.ts';
export { freePort, freePorts, isListening, isPortFree, type PortKind, waitForListening } from './ports.ts';
export {
  type ExitStatus,
  liveProcesses,
  ManagedProcess,
  processGroupMembers,
  startProcess,
  stopAll,
} from './process.ts';
export {
  describeSipp,
  runSipp,
  type SippOptions,
  type SippResult,
  SippRun,
  type SippTransport,
  startSipp,
} from './sipp.ts';
export {
  HARNESS_BASE_CONFIG,
  mergeConfig,
  Sipwarden,
  type SipwardenConfig,
  type SipwardenOptions,
  sipwardenAvailable,
  startSipwarden,
} from './sipwarden.ts';
export { startTlsUas, type TlsUas } from './tls-uas.ts';
export { tempDir } from './workdir.ts';
