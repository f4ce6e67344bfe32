"""Publishing through the Hub, end to end, against a local double of the Hub API (tests/hub_double.py).

Each model family is trained (tiny), pushed, downloaded with `snapshot_download` into an empty cache and loaded in a
fresh process where nlpkit cannot be imported: its outputs must equal the local model's. Then the failures: offline,
no network, 401, 403, 404, each a one-line error that says what to do, with the output folder left as it was and the
token nowhere in a file, a card, a config or a log.
"""

from __future__ import annotations

import hashlib
import json
import os
import runpy
import secrets
import socket
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch
import yaml
from huggingface_hub import HfApi, constants
from huggingface_hub.errors import RepositoryNotFoundError
from huggingface_hub.utils import get_session
from transformers import (
    AutoModelForCausalLM,
    AutoModelForSeq2SeqLM,
    AutoModelForSequenceClassification,
    AutoModelForTokenClassification,
    AutoTokenizer,
    pipeline,
)

import nlpkit  # noqa: F401  (registers nlpkit's architectures)
from nlpkit import cli
from nlpkit.config import ConfigError
from nlpkit.hub import HubError, push_output_dir
from nlpkit.pipelines import TranslationPipeline
from nlpkit.predict import token_classification_pipeline
from nlpkit.training import TrainingArguments, start_run
from tests.helpers import REPO_ROOT, last_json_line, run_without_nlpkit
from tests.hub_double import Account, HubDouble

# Fresh tokens each session, so finding one in a file can only mean it leaked there.
WRITE_TOKEN = f"hf_write{secrets.token_hex(12)}"
READ_TOKEN = f"hf_read{secrets.token_hex(12)}"
ACCOUNTS = {WRITE_TOKEN: Account("alice", orgs=("nlpkit-org",)), READ_TOKEN: Account("alice", role="read")}

REVIEW_TEXTS = ["a truly great film", "boring and far too long", "great acting , great story", "a dull , boring mess"]
SENTENCE_TEXTS = ["John Smith lives in Paris .", "Mary went to London .", "Paris is far from London ."]
BERT_TEXTS = ["What a wonderful day!", "This is awful."]
LM_PROMPTS = ["The ", "It was"]  # each generated alone: no padding in a decoder-only batch
LM_GREEDY = {"do_sample": False, "max_new_tokens": 8}  # the recipe's generation_config samples: compare greedy text
SOURCES = ["They have never seen the sea.", "She studies medicine."]


@pytest.fixture(scope="module")
def hub():
    with HubDouble(ACCOUNTS) as double:
        yield double


@contextmanager
def using_hub(endpoint: str, home: Path, token: str | None = WRITE_TOKEN):
    """Point this process's huggingface_hub at ``endpoint`` (its settings are read at import: patch them)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(constants, "ENDPOINT", endpoint)
        patch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", endpoint + "/{repo_id}/resolve/{revision}/{filename}")
        patch.setattr(constants, "HF_HUB_OFFLINE", False)
        patch.setattr(constants, "HF_HUB_DISABLE_XET", True)  # the double speaks LFS, not Xet
        patch.setattr(constants, "HF_TOKEN_PATH", str(home / "token"))  # no login cache unless a test writes one
        patch.delenv("HUGGING_FACE_HUB_TOKEN", raising=False)
        if token is None:
            patch.delenv("HF_TOKEN", raising=False)
        else:
            patch.setenv("HF_TOKEN", token)
        yield


def subprocess_env(hub: HubDouble, home: Path, token: str = WRITE_TOKEN) -> dict[str, str]:
    return {
        "HF_ENDPOINT": hub.url,
        "HF_TOKEN": token,
        "HF_HOME": str(home),
        "HF_HUB_CACHE": str(home / "empty_cache"),
        "HF_HUB_OFFLINE": "0",
        "TRANSFORMERS_OFFLINE": "0",
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "OMP_NUM_THREADS": "1",
    }


def folder_digest(folder: Path) -> dict[str, str]:
    return {
        str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def files_containing(files: dict[str, bytes], secret: str) -> list[str]:
    return [name for name, content in files.items() if secret.encode() in content]


def card_metadata(text: str) -> dict:
    assert text.startswith("---\n")
    return yaml.safe_load(text[4 : text.index("\n---\n", 4)])


def model_index_metrics(metadata: dict) -> dict[str, float]:
    return {m["type"]: m["value"] for m in metadata["model-index"][0]["results"][0]["metrics"] if "type" in m}


# ---------------------------------------------------------------------------------------------------------------------
# Every model family, trained and pushed: by its recipe (push_to_hub) or by `nlpkit push` after training.


def run_recipe(hub, root: Path, recipe: str, *args: str, push_to: str | None = None):
    """Run a recipe as a user would, the token in HF_TOKEN only; given ``push_to``, with push_to_hub to that repo.
    Returns the output folder and the finished process (its logs)."""
    output_dir = root / "out"
    push = ["--push_to_hub", "true", "--hub_model_id", push_to] if push_to else []
    command = [sys.executable, str(REPO_ROOT / "recipes" / recipe), "--output_dir", str(output_dir), *args,
               "--logging_steps", "1", *push]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), **subprocess_env(hub, root / "home")}
    result = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return output_dir, result


@pytest.fixture(scope="module")
def bert_run(hub, tmp_path_factory):
    """The BERT recipe with push_to_hub: trains 2 steps, saves, pushes."""
    return run_recipe(
        hub, tmp_path_factory.mktemp("bert"), "bert_sentiment.py",
        "--max_steps", "2", "--max_train_samples", "32", "--max_eval_samples", "8", "--max_seq_length", "32",
        "--per_device_train_batch_size", "8", "--eval_strategy", "no", "--save_strategy", "steps", "--save_steps", "2",
        "--sample_texts", "nice", push_to="alice/bert-tiny",
    )  # fmt: skip


TINY_RUN = ["--max_steps", "4", "--per_device_train_batch_size", "4", "--max_train_samples", "32",
            "--max_eval_samples", "16", "--eval_strategy", "no", "--save_strategy", "steps", "--save_steps", "4",
            "--sample_texts", "a great film"]  # fmt: skip
CUSTOM_METRICS = {"lstm": "accuracy", "crf": "f1"}  # the metric each card must show


@pytest.fixture(scope="module")
def custom_recipe_runs(hub, tmp_path_factory):
    """The LSTM classifier and the BiLSTM-CRF tagger (remote code), each trained 4 steps by its recipe on the recipe's
    quickstart data: the first pushed by the recipe to a private repo (hub_private_repo), the second pushed after
    training with `nlpkit push --private`."""
    lstm = run_recipe(
        hub, tmp_path_factory.mktemp("lstm"), "lstm_sentiment.py", *TINY_RUN, "--embedding_size", "8",
        "--hidden_size", "6", "--hub_private_repo", "true", push_to="alice/lstm-tiny",
    )  # fmt: skip
    crf_root = tmp_path_factory.mktemp("crf")
    crf_dir, crf_log = run_recipe(
        hub, crf_root, "ner.py", *TINY_RUN, "--embedding_size", "12", "--hidden_size", "10",
        "--char_embedding_size", "6", "--char_hidden_size", "8", "--max_word_length", "8",
    )  # fmt: skip
    digest = folder_digest(crf_dir)
    with using_hub(hub.url, crf_root):
        cli.main(["push", str(crf_dir), "nlpkit-org/crf-tiny", "--private"])
    assert folder_digest(crf_dir) == digest  # pushing only reads
    return {"lstm": lstm, "crf": (crf_dir, crf_log)}


@pytest.fixture(scope="module")
def custom_runs(custom_recipe_runs):
    """The output folders of the custom-architecture runs."""
    return {family: output_dir for family, (output_dir, _) in custom_recipe_runs.items()}


LM_TINY = ["--hidden_size", "32", "--num_hidden_layers", "1", "--num_attention_heads", "2", "--embedding_size", "16",
           "--block_size", "32", "--per_device_train_batch_size", "8", "--max_eval_samples", "8",
           "--sample_max_new_tokens", "8", "--max_steps", "30", "--eval_steps", "30", "--save_steps", "30"]  # fmt: skip
MT_TINY = ["--embedding_size", "32", "--hidden_size", "32", "--vocab_size", "300", "--max_target_length", "12",
           "--num_sample_translations", "2", "--max_eval_samples", "16", "--max_steps", "30", "--save_strategy",
           "steps", "--save_steps", "30", "--eval_strategy", "steps", "--eval_steps", "30"]  # fmt: skip
GENERATIVE = {  # family: (recipe, repo, arguments, the metric the card must show)
    "gpt": ("text_generation.py", "alice/gpt-tiny", [*LM_TINY, "--model", "gpt"], "bits_per_character"),
    "lstm_lm": ("text_generation.py", "alice/lstm-lm-tiny", [*LM_TINY, "--model", "lstm"], "bits_per_character"),
    "rnn_seq2seq": ("translation.py", "alice/rnn-seq2seq-tiny", MT_TINY, "bleu"),
}


@pytest.fixture(scope="module")
def generative_runs(hub, tmp_path_factory):
    """The GPT and LSTM language models and the RNN seq2seq translator: each trained for 30 steps by its recipe on the
    recipe's quickstart data and pushed by the recipe (push_to_hub)."""
    return {
        family: run_recipe(hub, tmp_path_factory.mktemp(family), recipe, *args, push_to=repo_id)
        for family, (recipe, repo_id, args, _) in GENERATIVE.items()
    }


@pytest.fixture(scope="module")
def loaded_without_nlpkit(hub, bert_run, custom_runs, generative_runs, tmp_path_factory):
    """One fresh process without nlpkit: snapshot_download each repo into an empty cache, load it, run pipeline()."""
    tmp_path = tmp_path_factory.mktemp("no_nlpkit")
    cases = [
        ("alice/bert-tiny", "AutoModelForSequenceClassification", "text-classification", BERT_TEXTS),
        ("alice/lstm-tiny", "AutoModelForSequenceClassification", "text-classification", REVIEW_TEXTS),
        ("nlpkit-org/crf-tiny", "AutoModelForTokenClassification", "token-classification", SENTENCE_TEXTS),
    ]
    generative_cases = [
        ("alice/gpt-tiny", "AutoModelForCausalLM", "text-generation", LM_PROMPTS),
        ("alice/lstm-lm-tiny", "AutoModelForCausalLM", "text-generation", LM_PROMPTS),
        ("alice/rnn-seq2seq-tiny", "AutoModelForSeq2SeqLM", "translation", SOURCES),
    ]
    code = f"""
        import json, os, torch, transformers
        from huggingface_hub import snapshot_download
        results = {{}}
        for repo, auto_class, task, texts in {cases!r}:
            folder = snapshot_download(repo)
            model = getattr(transformers, auto_class).from_pretrained(repo, trust_remote_code=True).eval()
            tokenizer = transformers.AutoTokenizer.from_pretrained(repo, trust_remote_code=True)
            with torch.no_grad():
                logits = model(**tokenizer(texts, padding=True, return_tensors="pt")).logits
            options = {{"aggregation_strategy": "simple"}} if task == "token-classification" else {{}}
            pipe = transformers.pipeline(task, model=repo, trust_remote_code=True, **options)
            results[repo] = {{
                "files": sorted(os.listdir(folder)),
                "cache": folder.startswith(os.environ["HF_HUB_CACHE"]),
                "module": type(model).__module__,
                "logits": logits.tolist(),
                "pipeline": pipe(texts),
            }}
        for repo, auto_class, task, texts in {generative_cases!r}:
            folder = snapshot_download(repo)
            model = getattr(transformers, auto_class).from_pretrained(repo, trust_remote_code=True).eval()
            tokenizer = transformers.AutoTokenizer.from_pretrained(repo, trust_remote_code=True)
            batches = [texts] if task == "translation" else [[text] for text in texts]
            options = {LM_GREEDY!r} if task == "text-generation" else {{}}
            generated = [model.generate(**tokenizer(batch, padding=True, return_tensors="pt"), output_logits=True,
                                        return_dict_in_generate=True, **options) for batch in batches]
            pipe = transformers.pipeline(task, model=repo, trust_remote_code=True)
            results[repo] = {{
                "files": sorted(os.listdir(folder)),
                "cache": folder.startswith(os.environ["HF_HUB_CACHE"]),
                "module": type(model).__module__,
                "sequences": [output.sequences.tolist() for output in generated],
                "logits": [torch.stack(output.logits).tolist() for output in generated],
                "pipeline": pipe(texts, **options),
            }}
        print(json.dumps(results, default=float))
    """
    output = run_without_nlpkit(code, tmp_path, env=subprocess_env(hub, tmp_path / "home"))
    return last_json_line(output)


def local_outputs(folder: Path, auto_class, task: str, texts: list[str]) -> tuple[torch.Tensor, list]:
    model = auto_class.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    with torch.no_grad():
        logits = model(**tokenizer(texts, padding=True, return_tensors="pt")).logits
    if task == "token-classification":  # nlpkit's pipeline for the tagger: the class its code ships
        piped = token_classification_pipeline(model, tokenizer)(texts, aggregation_strategy="simple")
    else:
        piped = pipeline(task, model=model, tokenizer=tokenizer)(texts)
    return logits, json.loads(json.dumps(piped, default=float))


def check_card(
    card: str, results: dict, repo_id: str, pipeline_tag: str, remote_code: bool, metric: str = "accuracy"
) -> dict:
    metadata = card_metadata(card)
    assert metadata["library_name"] == "transformers" and metadata["pipeline_tag"] == pipeline_tag
    assert {"nlpkit", pipeline_tag} <= set(metadata["tags"]) and metadata["license"] == "apache-2.0"
    metrics = model_index_metrics(metadata)
    assert metrics[metric] == round(results[f"eval_{metric}"], 4)
    assert f"| {metric} | {results[f'eval_{metric}']:.4f} |" in card
    trust = ", trust_remote_code=True" if remote_code else ""
    assert f'from_pretrained("{repo_id}"{trust})' in card and f'model="{repo_id}"{trust})' in card
    return metadata


def test_bert_recipe_pushes_one_commit_that_loads_without_nlpkit(hub, bert_run, loaded_without_nlpkit, tmp_path):
    output_dir, result = bert_run
    repo = hub.repos["alice/bert-tiny"]
    # One commit, after training: the Trainer neither created the repo early nor pushed checkpoints or its own card.
    nlpkit_commit = "BertForSequenceClassification trained with nlpkit for 2 steps"
    assert hub.commits("alice/bert-tiny") == ["initial commit", nlpkit_commit]
    pushed = repo.files()
    assert set(pushed) == {".gitattributes", "README.md", "config.json", "model.safetensors", "tokenizer.json",
                           "tokenizer_config.json", "all_results.json", "trainer_state_log.json", "run_config.yaml",
                           "loss_curves.png"}  # fmt: skip
    assert (output_dir / "checkpoint-2").is_dir()  # kept local
    assert repo.at("main").files["model.safetensors"].lfs and repo.at("main").files["loss_curves.png"].lfs
    for name in ("config.json", "model.safetensors", "tokenizer.json", "all_results.json"):
        assert pushed[name] == (output_dir / name).read_bytes(), name
    assert pushed["README.md"] == (output_dir / "README.md").read_bytes()  # the local card already names the repo
    results = json.loads((output_dir / "all_results.json").read_text())
    metadata = check_card(pushed["README.md"].decode(), results, "alice/bert-tiny", "text-classification", False)
    assert metadata["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert "Pushed 9 files from" in result.stdout and "Predictions:" in result.stdout
    assert not hub.rejected

    loaded = loaded_without_nlpkit["alice/bert-tiny"]
    assert loaded["cache"] and "model.safetensors" in loaded["files"]
    logits, piped = local_outputs(output_dir, AutoModelForSequenceClassification, "text-classification", BERT_TEXTS)
    torch.testing.assert_close(torch.tensor(loaded["logits"]), logits)
    assert [p["label"] for p in loaded["pipeline"]] == [p["label"] for p in piped]


@pytest.mark.parametrize(
    "family, repo_id, auto_class, task, texts",
    [
        ("lstm", "alice/lstm-tiny", AutoModelForSequenceClassification, "text-classification", REVIEW_TEXTS),
        ("crf", "nlpkit-org/crf-tiny", AutoModelForTokenClassification, "token-classification", SENTENCE_TEXTS),
    ],
)  # fmt: skip
def test_custom_architecture_round_trip(hub, custom_runs, loaded_without_nlpkit, family, repo_id, auto_class, task,
                                        texts, tmp_path):  # fmt: skip
    folder = custom_runs[family]
    pushed = hub.repos[repo_id].files()
    model_type = json.loads((folder / "config.json").read_text())["model_type"]
    code = {f"configuration_{model_type}.py", f"modeling_{model_type}.py"}
    assert code <= set(pushed) and (folder / "checkpoint-4").is_dir()
    assert not any(name.startswith("checkpoint-") or name == "training_args.bin" for name in pushed)
    config = json.loads(pushed["config.json"])
    assert config["auto_map"]["AutoConfig"].startswith(f"configuration_{model_type}.")
    assert config["auto_map"][auto_class.__name__].startswith(f"modeling_{model_type}.")
    results = json.loads((folder / "all_results.json").read_text())
    check_card(pushed["README.md"].decode(), results, repo_id, task, remote_code=True, metric=CUSTOM_METRICS[family])
    local_card = (folder / "README.md").read_text()
    if family == "crf":  # `nlpkit push` leaves the local card as it was
        assert 'from_pretrained("path/to/this/folder"' in local_card
    else:  # the recipe wrote its card for the repo it pushes to
        assert pushed["README.md"].decode() == local_card
    assert hub.repos[repo_id].private  # hub_private_repo (recipe) and --private (nlpkit push)
    assert not hub.rejected

    loaded = loaded_without_nlpkit[repo_id]
    assert loaded["cache"] and code <= set(loaded["files"])
    assert loaded["module"].startswith("transformers_modules.")  # the repo's code, not nlpkit's
    logits, piped = local_outputs(folder, auto_class, task, texts)
    # float32 tolerance: another process's threads may sum in another order
    torch.testing.assert_close(torch.tensor(loaded["logits"]), logits)
    assert loaded["pipeline"] == piped

    # With nlpkit installed, the registered architecture loads from the repo without trust_remote_code.
    with using_hub(hub.url, tmp_path):
        model = auto_class.from_pretrained(repo_id, cache_dir=tmp_path / "cache").eval()
        tokenizer = AutoTokenizer.from_pretrained(repo_id, cache_dir=tmp_path / "cache")
    assert type(model).__module__.startswith("nlpkit.models.")
    with torch.no_grad():
        torch.testing.assert_close(model(**tokenizer(texts, padding=True, return_tensors="pt")).logits, logits)


@pytest.mark.parametrize(
    "family, repo_id, auto_class, task, texts",
    [
        ("gpt", "alice/gpt-tiny", AutoModelForCausalLM, "text-generation", LM_PROMPTS),
        ("lstm_lm", "alice/lstm-lm-tiny", AutoModelForCausalLM, "text-generation", LM_PROMPTS),
        ("rnn_seq2seq", "alice/rnn-seq2seq-tiny", AutoModelForSeq2SeqLM, "translation", SOURCES),
    ],
)  # fmt: skip
def test_generative_round_trip(hub, generative_runs, loaded_without_nlpkit, family, repo_id, auto_class, task, texts):
    """Pushed by its recipe with its generation_config.json, the repo generates in a process without nlpkit what it
    does here."""
    folder, result = generative_runs[family]
    pushed = hub.repos[repo_id].files()
    code = {f"configuration_{family}.py", f"modeling_{family}.py"}
    assert code | {"generation_config.json", "tokenizer.json", "loss_curves.png", "all_results.json"} <= set(pushed)
    assert not any(name.startswith("checkpoint-") or name == "training_args.bin" for name in pushed)
    assert pushed["generation_config.json"] == (folder / "generation_config.json").read_bytes()
    assert json.loads(pushed["config.json"])["auto_map"][auto_class.__name__].startswith(f"modeling_{family}.")
    results = json.loads((folder / "all_results.json").read_text())
    check_card(pushed["README.md"].decode(), results, repo_id, task, remote_code=True, metric=GENERATIVE[family][3])
    assert len(hub.commits(repo_id)) == 2  # "initial commit", then the recipe's one push after training
    assert not hub.rejected

    loaded = loaded_without_nlpkit[repo_id]
    assert loaded["cache"] and code <= set(loaded["files"])
    assert loaded["module"].startswith("transformers_modules.")
    model = auto_class.from_pretrained(folder).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    batches = [texts] if task == "translation" else [[text] for text in texts]
    options = LM_GREEDY if task == "text-generation" else {}
    for batch, sequences, logits in zip(batches, loaded["sequences"], loaded["logits"], strict=True):
        local = model.generate(**tokenizer(batch, padding=True, return_tensors="pt"), output_logits=True,
                               return_dict_in_generate=True, **options)  # fmt: skip
        assert sequences == local.sequences.tolist()
        # float32 tolerance: another process's threads may sum in another order
        torch.testing.assert_close(torch.tensor(logits), torch.stack(local.logits))
    # Both pipelines decode greedily (the translator with its pushed generation_config.json), so they agree.
    # transformers 5 has no "translation" task of its own: the repo's code brings the pipeline (the remote process
    # builds it by name).
    if task == "translation":
        piped = TranslationPipeline(model=model, tokenizer=tokenizer, task=task)(texts)
    else:
        piped = pipeline(task, model=model, tokenizer=tokenizer)(texts, **options)
    assert loaded["pipeline"] == json.loads(json.dumps(piped))
    if task == "text-generation":  # the pipeline's text is the prompt and the greedy continuation generate() gave
        generated = [tokenizer.decode(sequences[0], skip_special_tokens=True) for sequences in loaded["sequences"]]
        assert [output[0]["generated_text"] for output in loaded["pipeline"]] == generated


@pytest.mark.parametrize("repo_id", ["alice/lstm-tiny", "nlpkit-org/crf-tiny"])
def test_private_repo_is_hidden_from_anonymous_users(hub, custom_runs, tmp_path, repo_id):
    with using_hub(hub.url, tmp_path):
        with pytest.raises(RepositoryNotFoundError):
            HfApi(token=False).model_info(repo_id)
        assert HfApi().model_info(repo_id).private


def test_token_is_in_no_file_card_config_or_log(hub, bert_run, custom_recipe_runs, generative_runs):
    recipe_runs = [bert_run, *custom_recipe_runs.values(), *generative_runs.values()]
    for folder, _ in recipe_runs:
        local = {str(path): path.read_bytes() for path in folder.rglob("*") if path.is_file()}
        assert any("checkpoint-" in name for name in local)  # checkpoints (training_args.bin included) are scanned
        assert files_containing(local, WRITE_TOKEN) == []
    for repo in hub.repos.values():
        assert files_containing(repo.files(), WRITE_TOKEN) == []
    for output_dir, result in recipe_runs:
        assert WRITE_TOKEN not in result.stdout + result.stderr
        assert "hub_token" not in (output_dir / "run_config.yaml").read_text()


# ---------------------------------------------------------------------------------------------------------------------
# Failures: one line that says what to do, the output folder as it was.


@pytest.fixture
def fresh_hub():
    with HubDouble(ACCOUNTS) as double:
        yield double


def test_the_double_refuses_what_the_hub_refuses(fresh_hub, tmp_path):
    """The double is strict, so a client that sends something wrong fails the tests above."""
    auth = {"Authorization": f"Bearer {WRITE_TOKEN}"}
    with using_hub(fresh_hub.url, tmp_path):
        api, session = HfApi(), get_session()
        repo = api.create_repo("alice/strict").repo_id
        with pytest.raises(ValueError, match="unknown pipeline_tag"):  # card metadata the Hub would not read
            api.upload_file(path_or_fileobj=b"---\npipeline_tag: 3\n---\n", path_in_repo="README.md", repo_id=repo)
        commit = f"{fresh_hub.url}/api/models/alice/strict/commit/main"
        lfs_file = {"path": "w.bin", "algo": "sha256", "oid": "0" * 64, "size": 1}
        lines = [{"key": "header", "value": {"summary": "s"}}, {"key": "lfsFile", "value": lfs_file}]
        ndjson = "".join(json.dumps(line) + "\n" for line in lines).encode()
        answers = [
            session.post(commit, headers=auth, content=ndjson),  # no content type
            session.post(commit, headers={**auth, "Content-Type": "application/x-ndjson"}, content=ndjson),  # no upload
            session.post(
                f"{fresh_hub.url}/api/models/alice/strict/preupload/main", headers=auth, json={"files": [{"path": "a"}]}
            ),  # noqa: E501
            session.put(f"{fresh_hub.url}/storage/{'0' * 64}", headers=auth, content=b"x"),  # token sent to storage
            session.post(f"{fresh_hub.url}/api/models/alice/strict/commit/main", content=ndjson),  # no token
            session.get(f"{fresh_hub.url}/api/models/alice/strict/xet-write-token/main", headers=auth),  # Xet path
        ]
    assert [answer.status_code for answer in answers] == [400, 400, 400, 400, 401, 404]
    assert len(fresh_hub.rejected) == 5 and fresh_hub.commits("alice/strict") == ["initial commit"]


def push_fails(folder: Path, repo_id: str, capsys) -> str:
    """Run `nlpkit push` expecting exit status 2; return its one-line error (and check the folder is unchanged)."""
    before = folder_digest(folder)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["push", str(folder), repo_id])
    assert exit_info.value.code == 2
    assert folder_digest(folder) == before
    stderr = capsys.readouterr().err  # the error, after upload progress bars if the push had started
    error = stderr.strip().splitlines()[-1]
    assert error.startswith("nlpkit push: error: ") and stderr.count("error") == 1 and "Traceback" not in stderr
    return error


def test_offline_mode_refuses_before_any_request(fresh_hub, custom_runs, tmp_path, capsys):
    with using_hub(fresh_hub.url, tmp_path), pytest.MonkeyPatch.context() as patch:
        patch.setattr(constants, "HF_HUB_OFFLINE", True)
        error = push_fails(custom_runs["lstm"], "alice/offline", capsys)
    assert "HF_HUB_OFFLINE is set" in error and "unset it" in error
    assert fresh_hub.requests == []


def test_unreachable_hub(custom_runs, tmp_path, capsys):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with using_hub(f"http://127.0.0.1:{port}", tmp_path):
        error = push_fails(custom_runs["lstm"], "alice/nowhere", capsys)
    assert f"cannot reach the Hub at http://127.0.0.1:{port}" in error and "check the network connection" in error


@pytest.mark.parametrize(
    "token, repo_id, expected",
    [
        (
            None,
            "alice/x",
            "no Hugging Face token to push with: set HF_TOKEN to a token with write access or run `hf auth login`",
        ),  # noqa: E501
        ("hf_not_a_real_token", "alice/x", "rejected the token (401 Unauthorized): set HF_TOKEN"),
        (READ_TOKEN, "alice/x", "the token of 'alice' is read-only: set HF_TOKEN"),
        (WRITE_TOKEN, "bob/x", "the token of 'alice' cannot push to 'bob' (it can push to: alice, nlpkit-org)"),
    ],
    ids=["no token", "unknown token", "read-only token", "another account"],  # the tokens are random: not in test ids
)
def test_token_problems_are_caught_before_uploading(fresh_hub, custom_runs, tmp_path, capsys, token, repo_id, expected):
    with using_hub(fresh_hub.url, tmp_path, token=token):
        error = push_fails(custom_runs["lstm"], repo_id, capsys)
    assert expected in error
    assert token is None or token not in error
    assert fresh_hub.repos == {} and all(path == "/api/whoami-v2" for _, path, _ in fresh_hub.requests)


def test_token_from_the_login_cache(fresh_hub, custom_runs, tmp_path):
    with using_hub(fresh_hub.url, tmp_path, token=None):
        (tmp_path / "token").write_text(WRITE_TOKEN)  # what `hf auth login` saves
        url = push_output_dir(custom_runs["lstm"], "lstm-from-cache")  # no namespace: the token owner's
    assert url == f"{fresh_hub.url}/alice/lstm-from-cache"
    assert "model.safetensors" in fresh_hub.repos["alice/lstm-from-cache"].files()


@pytest.mark.parametrize(
    "method, path, status, code, expected",
    [
        ("POST", r"/commit/", 404, "RepoNotFound", "alice/vanishing was not found on"),
        ("POST", r"/preupload/", 401, None, "the Hub rejected the token (401 Unauthorized)"),
        ("POST", r"/repos/create", 403, None, "the token may not write to alice/vanishing (403 Forbidden)"),
    ],
)
def test_failure_during_the_push_leaves_folder_and_repo_as_they_were(
    fresh_hub, custom_runs, tmp_path, capsys, method, path, status, code, expected
):
    fresh_hub.fail_next(method, path, status, code)
    with using_hub(fresh_hub.url, tmp_path):
        error = push_fails(custom_runs["crf"], "alice/vanishing", capsys)
    assert expected in error
    assert f"is unchanged: push it again with `nlpkit push {custom_runs['crf']} alice/vanishing`" in error
    repo = fresh_hub.repos.get("alice/vanishing")
    assert repo is None or fresh_hub.commits("alice/vanishing") == ["initial commit"]
    assert WRITE_TOKEN not in error and not fresh_hub.rejected


def test_endpoint_that_is_not_a_hub(fresh_hub, custom_runs, tmp_path, capsys):
    with using_hub(f"{fresh_hub.url}/not-the-api", tmp_path):
        error = push_fails(custom_runs["lstm"], "alice/x", capsys)
    assert "answered 404 to the token check, so it is not a Hub API: fix HF_ENDPOINT" in error


def test_a_file_holding_the_token_is_not_pushed(fresh_hub, custom_runs, tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    for path in custom_runs["lstm"].iterdir():
        if path.is_file():
            (folder / path.name).write_bytes(path.read_bytes())
    (folder / "notes.txt").write_text(f"export HF_TOKEN={WRITE_TOKEN}\n")
    with (
        using_hub(fresh_hub.url, tmp_path),
        pytest.raises(HubError, match="notes.txt contains your Hugging Face token"),
    ):
        push_output_dir(folder, "alice/leak")
    assert fresh_hub.repos == {}


@pytest.mark.parametrize("damage", ["drop the modeling file", "drop auto_map"])
def test_custom_architecture_without_its_code_is_not_pushed(fresh_hub, custom_runs, tmp_path, capsys, damage):
    folder = tmp_path / "run"
    folder.mkdir()
    for path in custom_runs["lstm"].iterdir():
        if path.is_file() and not (damage == "drop the modeling file" and path.name.startswith("modeling_")):
            (folder / path.name).write_bytes(path.read_bytes())
    if damage == "drop auto_map":
        config = json.loads((folder / "config.json").read_text())
        del config["auto_map"]
        (folder / "config.json").write_text(json.dumps(config))
    with using_hub(fresh_hub.url, tmp_path):
        error = push_fails(folder, "alice/no-code", capsys)
    expected = "modeling_lstm_classifier.py is missing" if damage == "drop the modeling file" else "has no auto_map"
    assert expected in error and "import nlpkit" in error
    assert fresh_hub.requests == []


def test_recipe_checks_the_token_before_loading_anything(fresh_hub, tmp_path, monkeypatch):
    loaded = []
    monkeypatch.setattr("nlpkit.pretrained.resolve_model_path", lambda name: loaded.append(name) or name)
    main = runpy.run_path(str(REPO_ROOT / "recipes" / "bert_sentiment.py"))["main"]
    output_dir = tmp_path / "out"
    with using_hub(fresh_hub.url, tmp_path, token="hf_expired"), pytest.raises(HubError, match="401 Unauthorized"):
        main(["--output_dir", str(output_dir), "--push_to_hub", "true", "--hub_model_id", "alice/never"])
    assert not loaded and not (output_dir / "config.json").exists()


@pytest.mark.parametrize(
    "argv, expected",
    [
        (["--hub_strategy", "checkpoint"], "hub_strategy: nlpkit pushes the finished run once"),
        (["--hub_revision", "dev"], "hub_revision: nlpkit pushes to the main branch"),
        (["--hub_token", "hf_in_a_config"], "'hub_token' must not be set"),
    ],
)
def test_push_options_nlpkit_refuses(tmp_path, argv, expected):
    argv = ["--output_dir", str(tmp_path), "--push_to_hub", "true", *argv]
    with pytest.raises(ConfigError, match=expected) as error:
        start_run([TrainingArguments], argv)
    assert "hf_in_a_config" not in str(error.value)
