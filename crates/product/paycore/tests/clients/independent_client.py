#!/usr/bin/env python3
"""An independent merchant client, written from api.md alone (Python `cryptography`, stdlib HTTP).

Usage: independent_client.py BASE_URL ADMIN_TOKEN
Creates a merchant, registers an RSA2, an Ed25519 and an HMAC-SHA256 key, calls
GET /v1/merchant signed with each, verifies every response against GET /v1/platform/keys,
and checks that a tampered request is refused. Exits non-zero on the first failure.
"""
import base64
import json
import secrets
import string
import sys
import time
import urllib.error
import urllib.request

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, hmac, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

BASE, ADMIN = sys.argv[1], sys.argv[2]


def request(method, path, body=b"", headers=None):
    req = urllib.request.Request(BASE + path, data=body or None, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def admin(method, path, payload=None):
    body = json.dumps(payload).encode() if payload is not None else b""
    headers = {"Authorization": "Bearer " + ADMIN, "Content-Type": "application/json"}
    status, _, data = request(method, path, body, headers)
    assert status in (200, 201), (status, data)
    return json.loads(data)


def pem_public(key):
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def signed_call(merchant_id, key_id, alg, sign, method, path, body=b"", tamper=False):
    ts = str(int(time.time()))
    nonce = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(32))
    message = f"{method}\n{path}\n{ts}\n{nonce}\n".encode() + body + b"\n"
    signature = base64.b64encode(sign(message)).decode()
    if tamper:
        body = body + b" "
        path = path + "?tampered=1"
    auth = (
        f'PAYCORE-{alg} merchant_id="{merchant_id}",key_id="{key_id}",'
        f'timestamp="{ts}",nonce="{nonce}",signature="{signature}"'
    )
    return request(method, path, body, {"Authorization": auth})


def verify_platform(headers, body):
    h = {k.lower(): v for k, v in headers.items()}
    _, _, data = request("GET", "/v1/platform/keys")
    keys = {k["key_id"]: k for k in json.loads(data)["keys"]}
    key = keys[h["paycore-key-id"]]
    assert key["algorithm"] == "ED25519", key
    public = serialization.load_pem_public_key(key["public_key_pem"].encode())
    message = f'{h["paycore-timestamp"]}\n{h["paycore-nonce"]}\n'.encode() + body + b"\n"
    public.verify(base64.b64decode(h["paycore-signature"]), message)
    try:
        public.verify(base64.b64decode(h["paycore-signature"]), message + b"x")
    except InvalidSignature:
        return
    raise AssertionError("a forged body verified")


def main():
    merchant = admin("POST", "/admin/v1/merchants", {"name": "Independent Client Shop"})
    mid = merchant["merchant_id"]

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ed_key = ed25519.Ed25519PrivateKey.generate()
    rsa_id = admin("POST", f"/admin/v1/merchants/{mid}/keys", {"algorithm": "RSA2", "public_key_pem": pem_public(rsa_key)})["key_id"]
    ed_id = admin("POST", f"/admin/v1/merchants/{mid}/keys", {"algorithm": "ED25519", "public_key_pem": pem_public(ed_key)})["key_id"]
    hmac_resp = admin("POST", f"/admin/v1/merchants/{mid}/keys", {"algorithm": "HMAC-SHA256"})
    hmac_id, secret = hmac_resp["key_id"], hmac_resp["secret"].encode()

    def sign_hmac(m):
        h = hmac.HMAC(secret, hashes.SHA256())
        h.update(m)
        return h.finalize()

    signers = [
        ("RSA2", rsa_id, lambda m: rsa_key.sign(m, padding.PKCS1v15(), hashes.SHA256())),
        ("ED25519", ed_id, ed_key.sign),
        ("HMAC-SHA256", hmac_id, sign_hmac),
    ]
    for alg, key_id, sign in signers:
        status, headers, body = signed_call(mid, key_id, alg, sign, "GET", "/v1/merchant")
        assert status == 200, (alg, status, body)
        me = json.loads(body)
        assert me["merchant_id"] == mid and me["key_id"] == key_id, me
        verify_platform(headers, body)
        status, headers, body = signed_call(mid, key_id, alg, sign, "GET", "/v1/merchant", tamper=True)
        assert status == 401 and json.loads(body)["error"]["code"] == "INVALID_SIGNATURE", (alg, status, body)
        verify_platform(headers, body)
        print(f"{alg}: accepted, response verified, tampering refused")
    print("ok")


if __name__ == "__main__":
    main()
