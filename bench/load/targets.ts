/**
 * The systems a load benchmark measures, each with its own sipp UAS behind it:
 * - direct:          sipp UAC -> sipp UAS (the ceiling: what sipp itself does on this machine)
 * - kamailio:        sipp UAC -> Kamailio (proxy.cfg: stateful, record-routing, one worker) -> UAS
 * - kamailio-secure: the same Kamailio with sanity checks, pike and an htable ban list
 *                    (proxy-secure.cfg), the reference for sipwarden with its pipeline on;
 *                    pike's density raised to PIKE_ALLOWING_DENSITY so that it counts every
 *                    request of the one load source but never bans it, as sipwarden
 *                    allowlists that source
 * - sipwarden:       sipp UAC -> sipwarden (one process, `sipwarden start`) -> UAS, with its
 *                    security pipeline on and the load generator's addresses allowlisted, as an
 *                    operator allowlists a trunk: every stage still runs on every message and
 *                    reports, but none refuses the one source and one caller identity that
 *                    sipp's thousands of calls per second come from
 * - sipwarden-plain: the same with the security pipeline off: the proxy alone, the like of
 *                    Kamailio's plain proxy.cfg
 * - kamailio-topoh:  kamailio-secure with topoh (Kamailio's topology hiding: Via, Record-Route
 *                    and Contact masked in every message it sends, towards both sides)
 * - sipwarden-hiding: sipwarden as "sipwarden" with topology hiding on towards both sides
 *                    (`topologyHiding.trusted.enabled`; the untrusted side is on by default)
 * All on loopback, on free ports.
 */
import { join } from 'node:path';
import { type Kamailio, startKamailio } from '../../test/interop/harness/kamailio.ts';
import { freePort } from '../../test/interop/harness/ports.ts';
import type { ManagedProcess } from '../../test/interop/harness/process.ts';
import { type SippRun, startSipp } from '../../test/interop/harness/sipp.ts';
import {
  REPO_ROOT,
  type Sipwarden,
  type SipwardenConfig,
  sipwardenAvailable,
  startSipwarden,
} from '../../test/interop/harness/sipwarden.ts';

export type TargetName =
  | 'direct'
  | 'kamailio'
  | 'kamailio-secure'
  | 'kamailio-topoh'
  | 'sipwarden'
  | 'sipwarden-plain'
  | 'sipwarden-hiding';
export const TARGET_NAMES: readonly TargetName[] = [
  'direct',
  'kamailio',
  'kamailio-secure',
  'kamailio-topoh',
  'sipwarden',
  'sipwarden-plain',
  'sipwarden-hiding',
];

/**
 * What a production Kamailio gets (its fast allocator and enough shared memory): with less it
 * fails calls for want of memory long before its CPU is busy, and a benchmark then measures
 * the setting. Its log is checked for KAMAILIO_ALLOCATION_ERROR after every run.
 */
export const KAMAILIO_SHARED_MEMORY_MB = 2048;
export const KAMAILIO_ALLOCATION_ERROR = /could not allocate/;

/**
 * Requests per pike sampling unit (2 s) from one source before pike flags it: far above
 * what one sipp UAC sends (three requests a call at 9,000 calls/s is 54,000 per unit). pike
 * keeps the limit in 16 bits: 1,000,000 became 16,960 and banned the load at 3,200 calls/s.
 */
export const PIKE_ALLOWING_DENSITY = 60_000;

/** sipwarden's settings per target (merged over the harness's base config). */
// overload.upstreamRequestsPerSecond is what the PBX behind can take: its default, 5,000 new
// requests a second (INVITE and BYE: about 2,500 calls/s), is set for a PBX, while sipp's UAS
// here takes far more; a production sipwarden in front of such a service is configured so.
const UPSTREAM_BUDGET = { upstreamRequestsPerSecond: 100_000 } as const;
// The media relay (on by default) is off: Kamailio relays no media without rtpengine, and
// the relay has its own benchmark against rtpengine (bench/load/media-relay.ts). SDP passes
// untouched through every target.
const NO_MEDIA = { relay: { enabled: false } } as const;

type SipwardenTarget = 'sipwarden' | 'sipwarden-plain' | 'sipwarden-hiding';
export const SIPWARDEN_CONFIGS: Readonly<Record<SipwardenTarget, SipwardenConfig>> = {
  sipwarden: { security: { allowlist: ['127.0.0.0/8'] }, overload: UPSTREAM_BUDGET, media: NO_MEDIA },
  'sipwarden-plain': { security: { enabled: false }, overload: UPSTREAM_BUDGET, media: NO_MEDIA },
  // Towards the clients it is on by default; towards the upstream it is switched on here.
  'sipwarden-hiding': {
    security: { allowlist: ['127.0.0.0/8'] },
    overload: UPSTREAM_BUDGET,
    media: NO_MEDIA,
    topologyHiding: { trusted: { enabled: true } },
  },
};

export const HOST = '127.0.0.1';

export interface Target {
  readonly name: TargetName;
  /** Where the UAC sends. */
  readonly port: number;
  readonly uas: SippRun;
  /** The proxy's main process (undefined for direct). */
  readonly pid?: number;
  readonly kamailio?: Kamailio;
  readonly sipwarden?: Sipwarden;
  /** The processes the target is made of (UAS, proxy). */
  readonly processes: readonly ManagedProcess[];
  stop(): Promise<void>;
}

/**
 * The first of the target's processes that is no longer running, described ("uas-direct
 * exited: signal SIGTERM"), or undefined when all run. Test daemons on a shared machine can
 * be ended by something else; a step run against a dead UAS measures nothing.
 */
export function deadProcess(target: Target): string | undefined {
  for (const p of target.processes) {
    if (p.running) continue;
    const status = p.exitStatus;
    const how = status?.signal ? `signal ${status.signal}` : `code ${status?.code}`;
    return `${p.name} (pid ${p.pid}) exited: ${how}`;
  }
  return undefined;
}

export interface TargetOptions {
  /** The UAS scenario file (scenarios/), e.g. uas-answer.xml or uas-hold.xml. */
  readonly uasScenario: string;
  /** -d for the UAS (its <pause/>), ms. */
  readonly uasPauseMs?: number;
  /** The UAS stops by itself after this long whatever happens. */
  readonly uasTimeoutS: number;
  /** Kamailio -m (shared memory MB: transactions live there); default KAMAILIO_SHARED_MEMORY_MB. */
  readonly kamailioSharedMemoryMb?: number;
  /** Kamailio -x: its memory allocator; default tlsf (Kamailio's own default, qm, keeps debug records). */
  readonly kamailioMemoryManager?: 'qm' | 'fm' | 'tlsf';
  /** Extra arguments for `sipwarden start`. */
  readonly sipwardenArgs?: readonly string[];
}

export function targetAvailable(name: TargetName): boolean {
  return !name.startsWith('sipwarden') || sipwardenAvailable();
}

export async function startTarget(name: TargetName, options: TargetOptions): Promise<Target> {
  const uasPort = await freePort();
  const uas = await startSipp({
    scenario: options.uasScenario,
    localPort: uasPort,
    transport: 'u1',
    timeoutS: options.uasTimeoutS,
    timeoutIsError: false,
    pauseMs: options.uasPauseMs,
    // Room for every call in flight (the memory benchmark holds 10,000).
    maxConcurrent: 50000,
    name: `uas-${name}`,
  });
  await uas.ready();
  const stopUas = async () => {
    await uas.stop();
  };
  if (name === 'direct') {
    return { name, port: uasPort, uas, processes: [uas.process], stop: stopUas };
  }
  if (name === 'kamailio' || name === 'kamailio-secure' || name === 'kamailio-topoh') {
    const kamailio = await startKamailio({
      ...(name === 'kamailio'
        ? {}
        : {
            variant: 'proxy-secure' as const,
            defines: {
              PIKE_DENSITY: PIKE_ALLOWING_DENSITY,
              ...(name === 'kamailio-topoh' ? { WITH_TOPOH: true as const } : {}),
            },
          }),
      port: await freePort(),
      upstream: { host: HOST, port: uasPort },
      sharedMemoryMb: options.kamailioSharedMemoryMb ?? KAMAILIO_SHARED_MEMORY_MB,
      memoryManager: options.kamailioMemoryManager ?? 'tlsf',
    });
    return {
      name,
      port: kamailio.port,
      uas,
      pid: kamailio.pid,
      kamailio,
      processes: [uas.process, kamailio.process],
      stop: async () => {
        await kamailio.stop();
        await stopUas();
      },
    };
  }
  const sipwarden = await startSipwarden({
    port: await freePort(),
    upstream: { host: HOST, port: uasPort },
    config: SIPWARDEN_CONFIGS[name],
    extraArgs: ['--log-level', 'warn', ...(options.sipwardenArgs ?? [])],
    // The build the benchmark made at its start (buildSipwarden), named directly: bin/sipwarden.js
    // would switch to the sources through tsx as soon as one is edited during the run.
    bin: join(REPO_ROOT, 'dist', 'cli', 'main.js'),
  });
  return {
    name,
    port: sipwarden.port,
    uas,
    pid: sipwarden.pid,
    sipwarden,
    processes: [uas.process, sipwarden.process],
    stop: async () => {
      await sipwarden.stop();
      await stopUas();
    },
  };
}
