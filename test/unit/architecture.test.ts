import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { test } from 'node:test';

// The import direction of DESIGN.md: pure layers import nothing of ours from outside
// themselves, only src/transport touches sockets.
const root = join(import.meta.dirname, '..', '..', 'src');

function sources(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sources(path));
    else if (name.endsWith('.ts')) out.push(path);
  }
  return out;
}

function imports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  return [...text.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]!);
}

const ourLayers = (file: string): string[] =>
  imports(file)
    .filter((spec) => spec.startsWith('.'))
    .map((spec) => relative(root, join(file, '..', spec)).split('/')[0]!);

test('src/sip and src/sdp import nothing of ours outside themselves', () => {
  for (const layer of ['sip', 'sdp']) {
    for (const file of sources(join(root, layer))) {
      for (const target of ourLayers(file)) {
        assert.equal(target, layer, `${relative(root, file)} imports from src/${target}`);
      }
    }
  }
});

test('only src/transport imports socket modules', () => {
  const socketModules = /^(node:)?(dgram|net|tls)$/;
  for (const file of sources(root)) {
    // src/attack too: the attack tools are clients with their own sockets, not part of the gateway;
    // src/content: the clamd client's connections to the scanner; src/events/export: the
    // syslog sink's connection to the operator's collector; src/msrp: the MSRP relay's
    // listener, a media transport of its own beside SIP's; src/media: the RTP relay's ports and
    // the NG control client's socket to rtpengine; src/api/local-socket.ts: the management
    // API's unix socket for the local command line; src/dns: the stub resolver's UDP queries
    // (node:dns reports no TTL for SRV and NAPTR).
    const path = relative(root, file);
    if (
      /^(transport|attack|content|events\/export|msrp|media|dns)\//.test(path) ||
      path === 'api/local-socket.ts'
    )
      continue;
    for (const spec of imports(file)) {
      assert.doesNotMatch(spec, socketModules, `${relative(root, file)} imports ${spec}`);
    }
  }
});

test('src/core imports only sip, sdp, transport types, the identity type, state, log and itself', () => {
  // sdp: the session description hook (core/route/session-description.ts) parses offers and answers.
  const allowed = new Set(['core', 'sip', 'sdp', 'state', 'log', 'util']);
  // The verified identity is data the core carries from the pipeline to CDRs, nothing more.
  const files = new Set(['transport/types.ts', 'identity/identity.ts']);
  for (const file of sources(join(root, 'core'))) {
    for (const spec of imports(file).filter((s) => s.startsWith('.'))) {
      const target = relative(root, join(file, '..', spec));
      const layer = target.split('/')[0]!;
      const ok = allowed.has(layer) || files.has(target);
      assert.ok(ok, `${relative(root, file)} imports ${target}`);
    }
  }
});

// The core in layers (DESIGN.md): ingress, the transaction layer, dialogs and routing each
// do one job below the proxy, the transaction user that wires them; none reaches up or sideways.
test('the core layers import no layer above or beside them', () => {
  const core = join(root, 'core');
  const forbidden: Record<string, readonly string[]> = {
    ingress: ['transaction', 'dialog', 'route', 'proxy.ts'],
    transaction: ['ingress', 'dialog', 'route', 'proxy.ts'],
    dialog: ['ingress', 'transaction', 'route', 'proxy.ts'],
    // Route builds branches with the transaction layer's branch module, nothing else of it.
    route: ['ingress', 'dialog', 'proxy.ts'],
  };
  for (const [layer, banned] of Object.entries(forbidden)) {
    const files = sources(join(core, layer));
    assert.ok(files.length > 0, `src/core/${layer} holds no source`);
    for (const file of files) {
      for (const spec of imports(file).filter((s) => s.startsWith('.'))) {
        const target = relative(core, join(file, '..', spec));
        const top = target.split('/')[0]!;
        assert.ok(!banned.includes(top), `${relative(root, file)} imports core/${target}`);
        if (layer === 'route' && top === 'transaction') {
          assert.equal(target, 'transaction/branch.ts', `${relative(root, file)} imports core/${target}`);
        }
      }
    }
  }
});
