"""btauth/1 as bittensor 11.3.0 signs and verifies it (bittensor/http_auth.py), the peer of
omega's SDK-11 scheme. Run with $OMEGA_BITTENSOR11_PYTHON (scripts/setup.sh step 3d).

  sign   --seed HEX --method M --path P --body-hex HEX --receiver SS58
      {"headers": {...}}: the headers http_auth.sign makes with the sr25519 key of that seed
  verify --headers JSON --method M --path P --body-hex HEX --self SS58
      {"ok": true, "hotkey": SS58} or {"ok": false, "error": "<AuthError class>: message"}
"""

import argparse
import json
import os
import sys

ANSWER = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)

from bittensor import http_auth  # noqa: E402
from bittensor.keyfiles import Keypair  # noqa: E402


def main():
    top = argparse.ArgumentParser()
    sub = top.add_subparsers(dest="command", required=True)
    for name in ("sign", "verify"):
        p = sub.add_parser(name)
        p.add_argument("--method", required=True)
        p.add_argument("--path", required=True)
        p.add_argument("--body-hex", default="")
    sub.choices["sign"].add_argument("--seed", required=True)
    sub.choices["sign"].add_argument("--receiver", required=True)
    sub.choices["verify"].add_argument("--headers", required=True)
    sub.choices["verify"].add_argument("--self", dest="me", required=True)
    args = top.parse_args()
    body = bytes.fromhex(args.body_hex)
    if args.command == "sign":
        keypair = Keypair.create_from_seed(bytes.fromhex(args.seed.removeprefix("0x")))
        headers = http_auth.sign(keypair, method=args.method, path=args.path, body=body,
                                 receiver_ss58=args.receiver)
        result = {"headers": headers, "hotkey": keypair.ss58_address}
    else:
        try:
            caller = http_auth.verify(json.loads(args.headers), body, method=args.method,
                                      path=args.path, self_hotkey_ss58=args.me)
            result = {"ok": True, "hotkey": caller.hotkey_ss58}
        except http_auth.AuthError as error:
            result = {"ok": False, "error": f"{type(error).__name__}: {error}"}
    ANSWER.write(json.dumps(result) + "\n")
    ANSWER.flush()


main()
