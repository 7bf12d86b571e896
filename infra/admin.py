"""Operator CLI: bootstrap a self-hosted deployment's workspaces and tokens.

Uses the same settings as the functions (GOOGLE_CLOUD_PROJECT, FIRESTORE_EMULATOR_HOST, ...).
Every command prints one JSON line, so scripts can read it.

    python -m infra.admin create-workspace --name NAME [--plan free|pro]
    python -m infra.admin create-token --workspace ID --scopes leaderboards:read,... [--name N]
    python -m infra.admin list-tokens --workspace ID
    python -m infra.admin revoke-token --workspace ID --token-id tok_...
    python -m infra.admin create-admin-token [--name N]      (platform admin: public categories,
    python -m infra.admin list-admin-tokens                   badges, result verification)
    python -m infra.admin revoke-admin-token --token-id tok_...
    echo hf_... | python -m infra.admin set-hf-token --workspace ID [--clear]
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from shared.bootstrap import Container
from shared.domain.auth import ALL_SCOPES, parse_scopes
from shared.domain.errors import PodiumError
from shared.services import access


def _print(obj: Any) -> None:
    print(json.dumps(obj, default=str))


def create_workspace(c: Container, args: argparse.Namespace) -> None:
    ws = access.create_workspace(
        workspaces=c.workspaces, clock=c.clock, name=args.name, plan=args.plan, workspace_id=args.id
    )
    token, _ = access.mint_token(
        tokens=c.tokens,
        workspaces=c.workspaces,
        clock=c.clock,
        workspace_id=str(ws["id"]),
        scopes=ALL_SCOPES,
        name="owner",
    )
    _print({"workspace_id": ws["id"], "token": token})


def create_token(c: Container, args: argparse.Namespace) -> None:
    token, record = access.mint_token(
        tokens=c.tokens,
        workspaces=c.workspaces,
        clock=c.clock,
        workspace_id=args.workspace,
        scopes=parse_scopes(args.scopes),
        name=args.name,
    )
    _print({"token": token, "token_id": record.token_id, "scopes": record.scopes})


def list_tokens(c: Container, args: argparse.Namespace) -> None:
    items = access.list_tokens(tokens=c.tokens, workspace_id=args.workspace)
    _print({"items": [t.model_dump(mode="json") for t in items]})


def revoke_token(c: Container, args: argparse.Namespace) -> None:
    access.revoke_token(
        tokens=c.tokens, clock=c.clock, workspace_id=args.workspace, token_id=args.token_id
    )
    _print({"revoked": args.token_id})


def create_admin_token(c: Container, args: argparse.Namespace) -> None:
    token, _ = access.mint_admin_token(tokens=c.tokens, clock=c.clock, name=args.name)
    _print({"token": token})


def list_admin_tokens(c: Container, args: argparse.Namespace) -> None:
    items = access.list_tokens(tokens=c.tokens, workspace_id=None)
    _print({"items": [t.model_dump(mode="json") for t in items]})


def revoke_admin_token(c: Container, args: argparse.Namespace) -> None:
    access.revoke_token(tokens=c.tokens, clock=c.clock, workspace_id=None, token_id=args.token_id)
    _print({"revoked": args.token_id})


def set_hf_token(c: Container, args: argparse.Namespace) -> None:
    # From stdin, never from argv: arguments end up in shell history and process listings.
    token = None if args.clear else sys.stdin.readline().strip()
    if not args.clear and not token:
        raise ValueError("no token on standard input (or pass --clear to remove it)")
    access.set_hf_token(
        workspaces=c.workspaces, secrets=c.secrets, workspace_id=args.workspace, token=token
    )
    _print({"workspace_id": args.workspace, "hf_token": "removed" if args.clear else "set"})


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m infra.admin", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    cw = sub.add_parser("create-workspace", help="create a workspace and an owner token")
    cw.add_argument("--name", required=True)
    cw.add_argument("--plan", choices=["free", "pro"], default="free")
    cw.add_argument("--id", help="workspace id (default: generated)")
    cw.set_defaults(run=create_workspace)
    ct = sub.add_parser("create-token", help="mint a scoped token")
    ct.add_argument("--workspace", required=True)
    ct.add_argument("--scopes", required=True, help=f"comma-separated: {sorted(ALL_SCOPES)}")
    ct.add_argument("--name")
    ct.set_defaults(run=create_token)
    lt = sub.add_parser("list-tokens", help="list a workspace's tokens (never their values)")
    lt.add_argument("--workspace", required=True)
    lt.set_defaults(run=list_tokens)
    rt = sub.add_parser("revoke-token", help="revoke a token by its token_id")
    rt.add_argument("--workspace", required=True)
    rt.add_argument("--token-id", required=True)
    rt.set_defaults(run=revoke_token)
    ca = sub.add_parser("create-admin-token", help="mint a platform admin token")
    ca.add_argument("--name")
    ca.set_defaults(run=create_admin_token)
    la = sub.add_parser("list-admin-tokens", help="list platform admin tokens")
    la.set_defaults(run=list_admin_tokens)
    ra = sub.add_parser("revoke-admin-token", help="revoke a platform admin token")
    ra.add_argument("--token-id", required=True)
    ra.set_defaults(run=revoke_admin_token)
    hf = sub.add_parser("set-hf-token", help="set the workspace's Hugging Face token (stdin)")
    hf.add_argument("--workspace", required=True)
    hf.add_argument("--clear", action="store_true", help="remove the token")
    hf.set_defaults(run=set_hf_token)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.run(Container(), args)
    except (PodiumError, ValueError) as exc:
        detail = exc.detail if isinstance(exc, PodiumError) else str(exc)
        print(json.dumps({"error": detail}), file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
