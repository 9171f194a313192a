/** RFC 5118 IPv6 torture test messages: one test per message of the manifest. */
import { runConformance } from './manifest.ts';

runConformance('RFC5118', {
  'ipv6-good': { verdict: 'accept' },
  'ipv6-bad': { verdict: 'reject', code: 'SW_ERR_BAD_REQUEST_URI', status: 400 },
  'port-ambiguous': { verdict: 'accept' },
  'port-unambiguous': { verdict: 'accept' },
  'via-received-param-with-delim': { verdict: 'accept' },
  'via-received-param-no-delim': { verdict: 'accept' },
  // The RFC text's Content-Length is larger than its body: over UDP that is an error.
  'ipv6-in-sdp': { verdict: 'reject', code: 'SW_ERR_CONTENT_LENGTH', status: 400, why: 'body shorter' },
  'ipv6-in-sdp-fixcl': { verdict: 'accept' },
  'mult-ip-in-header': { verdict: 'accept' },
  // The RFC text's Content-Length is smaller than its body: the extra octets are ignored.
  'mult-ip-in-sdp': { verdict: 'accept', trailingBytes: 8, why: 'RFC 3261 18.3' },
  'mult-ip-in-sdp-fixcl': { verdict: 'accept' },
  'ipv4-mapped-ipv6': { verdict: 'accept', trailingBytes: 9, why: 'RFC 3261 18.3' },
  'ipv4-mapped-ipv6-fixcl': { verdict: 'accept' },
  // RFC 5954 corrected the ABNF: three colons are not an IPv6 reference.
  'ipv6-bug-abnf-3-colons': {
    verdict: 'reject',
    code: 'SW_ERR_BAD_REQUEST_URI',
    status: 400,
    why: 'RFC 5954',
  },
  'ipv6-correct-abnf-2-colons': { verdict: 'accept' },
});
