"""Schemathesis hooks for the fuzz run: sign every request the way a merchant or operator would.

Loaded through SCHEMATHESIS_HOOKS=fuzz_hooks with this directory on PYTHONPATH. The credentials
come from the environment (PAYCORE_FUZZ_MERCHANT, PAYCORE_FUZZ_KEY, PAYCORE_FUZZ_SECRET,
PAYCORE_FUZZ_ADMIN, PAYCORE_FUZZ_DECOY). Signing happens on the prepared request, so the
signed path, query and body are exactly the bytes sent, whatever Schemathesis generated,
including malformed bodies.

The member token (PAYCORE_FUZZ_MEMBER_TOKEN) is a login of a member made for the run.

The run passes `-H "Authorization: sign-me"`; only that placeholder is replaced. A request
Schemathesis sends without credentials, or with credentials of its own making (the checks
`ignored_auth` and `missing_required_header`), goes out as it is and must be refused.
"""
import base64
import hashlib
import hmac
import os
import secrets
import string
import time
from urllib.parse import urlsplit

import requests
import schemathesis

MERCHANT = os.environ["PAYCORE_FUZZ_MERCHANT"]
KEY = os.environ["PAYCORE_FUZZ_KEY"]
SECRET = os.environ["PAYCORE_FUZZ_SECRET"].encode()
ADMIN = os.environ["PAYCORE_FUZZ_ADMIN"]
DECOY = os.environ["PAYCORE_FUZZ_DECOY"]
MEMBER_TOKEN = os.environ["PAYCORE_FUZZ_MEMBER_TOKEN"]
# Member calls anyone may make: registration and login carry no credentials.
MEMBER_OPEN = ("/v1/members", "/v1/members/login")
PLACEHOLDER = "sign-me"


class Sign(requests.auth.AuthBase):
    """The merchant signature (HMAC-SHA256) on /v1, a member's login token on /v1/members,
    the operator's bearer token on /admin."""

    def __call__(self, r):
        if r.headers.get("Authorization") != PLACEHOLDER:
            return r
        url = urlsplit(r.url)
        path = url.path + ("?" + url.query if url.query else "")
        if url.path.startswith("/admin/"):
            r.headers["Authorization"] = "Bearer " + ADMIN
        elif url.path in MEMBER_OPEN:
            del r.headers["Authorization"]
        elif url.path.startswith("/v1/members/"):
            r.headers["Authorization"] = "Bearer " + MEMBER_TOKEN
        elif url.path.startswith("/v1/"):
            body = r.body or b""
            if isinstance(body, str):
                body = body.encode()
            ts = str(int(time.time()))
            nonce = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32))
            message = f"{r.method}\n{path}\n{ts}\n{nonce}\n".encode() + body + b"\n"
            signature = base64.b64encode(hmac.new(SECRET, message, hashlib.sha256).digest()).decode()
            r.headers["Authorization"] = (
                f'PAYCORE-HMAC-SHA256 merchant_id="{MERCHANT}",key_id="{KEY}",'
                f'timestamp="{ts}",nonce="{nonce}",signature="{signature}"'
            )
        else:
            del r.headers["Authorization"]
        return r


@schemathesis.hook
def before_call(context, case, kwargs):
    # An operator call that would change the signing merchant (freeze it, revoke its key)
    # changes the decoy instead: the run keeps the credentials it signs with.
    params = case.path_parameters or {}
    if case.method.upper() != "GET" and params.get("merchant_id") == MERCHANT:
        params["merchant_id"] = DECOY
    kwargs["auth"] = Sign()
