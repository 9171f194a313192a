/**
 * The assessment scorecard. The gateway does not keep `sipwarden assess` runs yet, so the
 * view says where the scorecard is instead of asking the API for one it cannot have.
 */
import { Notice, PageHeader } from '../util.tsx';

export function Assess() {
  return (
    <section>
      <PageHeader title="Assessment scorecard" />
      <Notice kind="info">
        This gateway does not keep assessment runs yet. Run the battery against it and read the scorecard
        there:
      </Notice>
      <pre class="command">
        sipwarden assess --target 127.0.0.1:5060 --api http://127.0.0.1:9060 --api-token TOKEN --json
      </pre>
      <p class="muted">
        Each attack's row says whether it was stopped, whether sipwarden detected and blocked it (from its
        events API), how legitimate calls fared meanwhile, and whether the target was still alive after it.
      </p>
    </section>
  );
}
