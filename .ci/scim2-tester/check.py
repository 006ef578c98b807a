"""Run scim2-tester's checks against a running /scim/v2 and fail on any failed check.

Usage: check.py BASE_URL TOKEN   (e.g. http://127.0.0.1:8000/scim/v2 and a `licensing scim tokens create` token)

Skipped on purpose (printed as SKIPPED with the reason; see README "SCIM provisioning"):
- checks that fill the enterprise `employeeNumber` with a random 36-character value: D31 limits
  `employeeId` to 16 characters (Entra's limit), so the service answers 400 invalidValue as it must.
"""

from __future__ import annotations

import sys

from httpx2 import Client
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server

FAILED = (Status.ERROR, Status.CRITICAL)
D31_EMPLOYEE_ID = "`input.employeeId` is 36 characters long; the limit is 16"


def main(url: str, token: str) -> int:
    client = SyncSCIMClient(Client(base_url=url, headers={"Authorization": f"Bearer {token}"}))
    results = check_server(client, raise_exceptions=False)
    failed = skipped = 0
    for result in results:
        status = result.status.name
        reason = result.reason or ""
        if result.status in FAILED and D31_EMPLOYEE_ID in reason:
            status, reason = "SKIPPED", f"D31: employeeNumber is at most 16 characters ({reason})"
            skipped += 1
        elif result.status in FAILED:
            failed += 1
        line = f"{status:10} {result.resource_type or '-':6} {result.title}"
        print(line if result.status == Status.SUCCESS else f"{line}: {reason[:400]}")
    print(f"scim2-tester: {len(results)} checks, {failed} failed, {skipped} skipped for D31")
    return 1 if failed else 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1], sys.argv[2]))
