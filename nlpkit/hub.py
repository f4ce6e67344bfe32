"""Publishing on the Hugging Face Hub: check that a push can happen before training, then push the finished folder.

A recipe run with ``push_to_hub: true`` (plus ``hub_model_id`` and ``hub_private_repo``), or ``nlpkit push OUTPUT_DIR
REPO_ID`` for a finished run, publishes the output folder as one commit: weights, ``config.json`` (with ``auto_map``
for nlpkit's own architectures) and their ``configuration_*.py``/``modeling_*.py`` code, tokenizer, generation config,
results, loss curves and the model card. Checkpoints, staging folders, temporary files and pickled TrainingArguments
stay local. The token comes from ``HF_TOKEN`` or the login cache (``hf auth login``) and is never written anywhere.

Every failure (offline, Hub unreachable, no or rejected token, no write access, unknown repo) raises
:class:`HubError`, whose message is one line that says what to do. The output folder is only read, so it stays whole.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from huggingface_hub import CommitOperationAdd, HfApi, constants, get_token
from huggingface_hub.errors import HfHubHTTPError, HFValidationError, OfflineModeIsEnabled, RepositoryNotFoundError
from huggingface_hub.utils import build_hf_headers, get_session, validate_repo_id
from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from nlpkit.cards import card_for_repo
from nlpkit.config import ConfigError
from nlpkit.errors import HubError  # re-exported: `from nlpkit.hub import HubError` keeps working
from nlpkit.pretrained import check_model_folder

logger = logging.getLogger("nlpkit")

DEFAULT_COMMIT_MESSAGE = "Upload model trained with nlpkit"
HUB_CHECK_TIMEOUT = 15.0  # seconds for the token check before training (huggingface_hub sets no timeout)
_LOCAL_SUFFIXES = (".tmp", ".lock", ".incomplete")
_TOKEN_HELP = "set HF_TOKEN to a token with write access or run `hf auth login`"


@dataclass(frozen=True)
class HubTarget:
    """Where a run will be pushed, as checked by :func:`check_hub_access` (never the token: it stays where it was)."""

    repo_id: str
    endpoint: str
    private: bool | None = None

    @property
    def url(self) -> str:
        return f"{self.endpoint}/{self.repo_id}"


def check_hub_access(
    repo_id: str, *, private: bool | None = None, token: str | None = None, endpoint: str | None = None
) -> HubTarget:
    """Check now, before any long work, that ``repo_id`` can be pushed to: online, a token that the Hub accepts, with
    write access to the repo's namespace. A ``repo_id`` without a namespace goes to the token owner's."""
    endpoint = (endpoint or constants.ENDPOINT).rstrip("/")
    if constants.is_offline_mode():
        raise HubError(
            "HF_HUB_OFFLINE is set, so nothing can be pushed to the Hub: unset it (or turn push_to_hub off, and push "
            "the finished run later with `nlpkit push OUTPUT_DIR REPO_ID`)"
        )
    token = token or get_token()
    if not token:
        raise HubError(f"no Hugging Face token to push with: {_TOKEN_HELP}")
    account = _whoami(endpoint, token)
    namespace, _, name = repo_id.strip("/").rpartition("/")
    full_id = f"{namespace or account['name']}/{name}"
    try:
        validate_repo_id(full_id)
    except HFValidationError as error:
        raise HubError(f"'{full_id}' is not a valid repo id: {_one_line(error)}") from None
    if account.get("auth", {}).get("accessToken", {}).get("role") == "read":
        raise HubError(f"the token of '{account['name']}' is read-only: {_TOKEN_HELP}")
    owners = [account["name"], *(org["name"] for org in account.get("orgs", []))]
    namespace = full_id.split("/")[0]
    if namespace not in owners:
        raise HubError(
            f"the token of '{account['name']}' cannot push to '{namespace}' (it can push to: {', '.join(owners)}): "
            f"choose a repo id in one of those namespaces, or use a token of a member of '{namespace}'"
        )
    return HubTarget(repo_id=full_id, endpoint=endpoint, private=private)


def push_output_dir(
    output_dir: str | Path,
    repo_id: str,
    *,
    private: bool | None = None,
    token: str | None = None,
    commit_message: str = DEFAULT_COMMIT_MESSAGE,
    endpoint: str | None = None,
) -> str:
    """Push a finished output folder to ``repo_id`` (created if needed) as one commit; returns the repo's URL.

    ``private`` applies when the repo is created (an existing repo keeps its visibility). ``token`` defaults to
    ``HF_TOKEN`` or the login cache, ``endpoint`` to ``HF_ENDPOINT``. The card in the repo shows how to load it from
    ``repo_id``; the local folder is not modified.
    """
    folder = Path(output_dir)
    check_model_folder(folder)
    check_remote_code(folder)
    files = publishable_files(folder)
    if "README.md" not in files:
        logger.warning("%s has no README.md: the repo will have no model card (recipes write one)", folder)
    retry = f"{folder} is unchanged: push it again with `nlpkit push {folder} {repo_id}`"
    try:
        target = check_hub_access(repo_id, private=private, token=token, endpoint=endpoint)
    except HubError as error:
        raise HubError(f"{error}; {retry}") from None
    token = token or get_token()
    _refuse_files_containing(folder, files, token)
    operations = [_operation(folder, path, target.repo_id) for path in files]
    api = HfApi(endpoint=target.endpoint, token=token)
    with _hub_errors(target, retry):
        api.create_repo(target.repo_id, private=private, exist_ok=True)
        commit = api.create_commit(target.repo_id, operations, commit_message=commit_message)
    logger.info("Pushed %d files from %s to %s (commit %s)", len(operations), folder, target.url, commit.oid[:8])
    return target.url


def publishable_files(folder: Path) -> list[str]:
    """The files of an output folder that are pushed, as sorted POSIX paths relative to it: everything except
    ``checkpoint-*`` folders, hidden entries (staging folders, temporary files of atomic writes), lock and temporary
    files, ``__pycache__`` and ``training_args.bin`` (a pickle of TrainingArguments: not portable, may hold secrets)."""
    files = []
    for path in sorted(folder.rglob("*")):
        relative = PurePosixPath(path.relative_to(folder).as_posix())
        stays_local = (
            relative.parts[0].startswith(f"{PREFIX_CHECKPOINT_DIR}-")
            or any(part.startswith(".") or part == "__pycache__" for part in relative.parts)
            or relative.suffix in _LOCAL_SUFFIXES
            or relative.name == "training_args.bin"
        )
        if path.is_file() and not stays_local:
            files.append(str(relative))
    return files


def check_remote_code(folder: Path) -> None:
    """Raise ConfigError unless a model whose architecture transformers lacks ships its code: ``auto_map`` in
    ``config.json`` and the ``.py`` files it names (``save_pretrained`` writes both once ``import nlpkit`` has
    registered nlpkit's architectures)."""
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    auto_map = config.get("auto_map") or {}
    if config["model_type"] not in CONFIG_MAPPING_NAMES and not auto_map:
        raise ConfigError(
            f"{folder}: config.json has no auto_map for the '{config['model_type']}' architecture, so the model "
            "would not load without nlpkit: save it again in a process that ran `import nlpkit`"
        )
    references = [ref for value in auto_map.values() for ref in (value if isinstance(value, list) else [value])]
    for reference in references:
        if reference and "--" not in reference:  # "other/repo--module.Class" is code in another repo
            module_file = reference.rsplit(".", 1)[0].replace(".", "/") + ".py"
            if not (folder / module_file).is_file():
                raise ConfigError(
                    f"{folder}: {module_file} is missing (config.json's auto_map names it): save the model again "
                    "with save_pretrained in a process that ran `import nlpkit`"
                )


def _operation(folder: Path, path: str, repo_id: str) -> CommitOperationAdd:
    if path == "README.md":  # a card written for a local folder (or another repo) shows how to load this repo
        card = card_for_repo((folder / path).read_text(encoding="utf-8"), repo_id)
        return CommitOperationAdd(path_in_repo=path, path_or_fileobj=card.encode("utf-8"))
    return CommitOperationAdd(path_in_repo=path, path_or_fileobj=str(folder / path))


def _refuse_files_containing(folder: Path, files: list[str], token: str) -> None:
    """Raise HubError if a file about to be published contains the token (read in chunks that overlap)."""
    needle, overlap = token.encode(), len(token) - 1
    for path in files:
        with open(folder / path, "rb") as handle:
            tail = b""
            while chunk := handle.read(1 << 20):
                if needle in tail + chunk:
                    raise HubError(f"{folder / path} contains your Hugging Face token: remove it, then push again")
                tail = chunk[-overlap:] if overlap else b""


def _whoami(endpoint: str, token: str) -> dict:
    try:
        response = get_session().get(
            f"{endpoint}/api/whoami-v2", headers=build_hf_headers(token=token), timeout=HUB_CHECK_TIMEOUT
        )
    except _network_errors() as error:
        raise HubError(_unreachable(endpoint, error)) from None
    if response.status_code == 401:
        raise HubError(f"the Hub at {endpoint} rejected the token (401 Unauthorized): {_TOKEN_HELP}")
    if response.status_code == 404:
        raise HubError(
            f"{endpoint} answered 404 to the token check, so it is not a Hub API: fix HF_ENDPOINT "
            "(unset it to use huggingface.co)"
        )
    if response.status_code >= 400:
        raise HubError(
            f"the Hub at {endpoint} answered {response.status_code} {response.reason_phrase} to the token check: "
            "try again later"
        )
    try:
        return response.json()
    except ValueError:
        raise HubError(f"{endpoint} did not answer the token check with JSON: fix HF_ENDPOINT") from None


@contextmanager
def _hub_errors(target: HubTarget, retry: str) -> Iterator[None]:
    """Turn what huggingface_hub raises while pushing into a one-line HubError that ends with ``retry``."""
    try:
        yield
    except OfflineModeIsEnabled:
        raise HubError(f"HF_HUB_OFFLINE is set: unset it; {retry}") from None
    except RepositoryNotFoundError:
        raise HubError(
            f"{target.repo_id} was not found on {target.endpoint} (404): check the repo id and that the token may "
            f"write to it; {retry}"
        ) from None
    except HfHubHTTPError as error:
        status = error.response.status_code if error.response is not None else None
        if status == 401:
            message = f"the Hub rejected the token (401 Unauthorized): {_TOKEN_HELP}"
        elif status == 403:
            message = f"the token may not write to {target.repo_id} (403 Forbidden): use a token with write access"
        else:
            message = f"the Hub at {target.endpoint} answered {status}: {error.server_message or _one_line(error)}"
        raise HubError(f"{message}; {retry}") from None
    except _network_errors() as error:
        raise HubError(f"{_unreachable(target.endpoint, error)}; {retry}") from None
    except ValueError as error:  # huggingface_hub's checks of the card metadata and of the Hub's answers
        raise HubError(f"the Hub refused the push: {_one_line(error)}; {retry}") from None


def _network_errors() -> tuple[type[BaseException], ...]:
    """What a failed connection raises: the transport errors of huggingface_hub's HTTP client (httpx in
    huggingface_hub 1.x, its fork httpx2 in 2.x), and OS-level socket errors."""
    client_package = sys.modules[type(get_session()).__module__.split(".")[0]]
    return (client_package.TransportError, OSError)


def _unreachable(endpoint: str, error: BaseException) -> str:
    return (
        f"cannot reach the Hub at {endpoint} ({type(error).__name__}: {_one_line(error) or 'no answer'}): "
        "check the network connection, or HF_ENDPOINT if you use a mirror"
    )


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())


__all__ = [
    "DEFAULT_COMMIT_MESSAGE",
    "HubError",
    "HubTarget",
    "check_hub_access",
    "check_remote_code",
    "publishable_files",
    "push_output_dir",
]
