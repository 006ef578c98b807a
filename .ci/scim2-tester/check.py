"""Run scim2-tester's checks against a running /scim/v2 and fail on any failed check.

Usage: check.py BASE_URL TOKEN   (e.g. http://127.0.0.1:8000/scim/v2 and a `licensing scim tokens create` token)

Every ERROR or CRITICAL result fails the run; nothing is relabelled. (The suite's own SKIPPED
results, such as POST /.search across resource types, are printed as it reports them.)
"""

from __future__ import annotations

import sys

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

FAILED = (Status.ERROR, Status.CRITICAL)


def main(url: str, token: str) -> int:
    client = SyncSCIMClient(Client(base_url=url, headers={"Authorization": f"Bearer {token}"}))
    results = check_server(client, raise_exceptions=False)
    failed = skipped = 0
    for result in results:
        status = result.status.name
        reason = result.reason or ""
        if result.status in FAILED:
            failed += 1
        elif result.status != Status.SUCCESS:
            skipped += 1
        line = f"{status:10} {result.resource_type or '-':6} {result.title}"
        print(line if result.status == Status.SUCCESS else f"{line}: {reason[:400]}")
    print(f"scim2-tester: {len(results)} checks, {failed} failed, {skipped} not run by the suite itself")
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
