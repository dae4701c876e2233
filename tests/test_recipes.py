"""models/recipes.py (``make models``): one recipe per shipped model, each the command that
built it (checked against the command recorded in the model's provenance), and the
``--quick`` run that trains every recipe on a slice of the shipped sample and simulates
the result (no external data set)."""

from __future__ import annotations

import importlib.util
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from neurochip.cli.main import build_parser
from neurochip.description import description_files, load

ROOT = Path(__file__).resolve().parents[1]
SPEC = importlib.util.spec_from_file_location("recipes", ROOT / "models" / "recipes.py")
recipes = importlib.util.module_from_spec(SPEC)
sys.modules["recipes"] = recipes  # dataclasses look their module up
SPEC.loader.exec_module(recipes)
SHIPPED = sorted(p.stem for p in description_files(ROOT / "models"))
DATA_ROOT = Path("../shared/datasets")
IGNORED = {"func", "out"}  # where a run wrote its model is not part of the recipe


def test_every_shipped_model_has_exactly_one_recipe():
    built = [m for r in recipes.RECIPES for m in r.models]
    assert sorted(built) == SHIPPED and len(SHIPPED) == 18


def test_unknown_model_is_refused_in_one_line(capsys):
    assert recipes.main(["no-such-model"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no recipe for no-such-model" in err[0]


def _options(argv: list[str]) -> dict:
    """The parsed options that make a model; of ``--data`` only which dataset (its folder's
    name), not where that folder was (the model's provenance fingerprints the data)."""
    args = vars(build_parser().parse_args(argv))
    if args.get("data"):
        args["data"] = Path(args["data"]).name
    return {k: v for k, v in args.items() if k not in IGNORED}


def _recorded_command(model: str) -> list[str]:
    prov = load(ROOT / "models" / f"{model}.npz").provenance
    words = shlex.split(prov["checkpoint"]["command"])
    assert words[:2] == ["neurochip", "train"], words
    if words[2] == "stidi-bp":  # its arch strings before the shared grammar: 16c5 was padded
        from neurochip.train.stidi_bp import same_padded

        i = words.index("--arch") + 1
        words[i] = same_padded(words[i])
    return words[1:]


def _step_of(recipe, model: str) -> tuple[str, ...]:
    """The training step that writes ``model`` (``--out {out}/model``); a conversion's models
    record the training run they were converted from, the recipe's first step."""
    for step in recipe.steps:
        if step[0] == "train" and step[step.index("--out") + 1] == f"{{out}}/{model}":
            return step
    return recipe.steps[0]


@pytest.mark.parametrize("recipe", recipes.RECIPES, ids=lambda r: r.name)
def test_recipe_is_the_command_that_built_the_shipped_model(recipe, capsys):
    for model in recipe.models:
        new = recipes.command(_step_of(recipe, model), DATA_ROOT, Path("models"), quick=False)
        old = _recorded_command(model)
        assert _options(new) == _options(old), model
    capsys.readouterr()  # the old spellings' notes


def test_conversion_recipe_matches_the_shipped_pair():
    convert = recipes.RECIPES[-1].steps[1]
    for model in recipes.RECIPES[-1].models:
        desc = load(ROOT / "models" / f"{model}.npz")
        assert desc.provenance["percentile"] == float(convert[convert.index("--percentile") + 1])
        assert desc.time_steps == int(convert[convert.index("--time-steps") + 1])
        if model.startswith("bsnn"):
            assert desc.provenance["phase_steps"] == int(convert[convert.index("--phase-steps") + 1])


@pytest.mark.slow
def test_quick_recipes_train_load_and_simulate(tmp_path):
    pytest.importorskip("torch")
    done = subprocess.run([sys.executable, str(ROOT / "models" / "recipes.py"), "--quick"],
                          cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    for recipe in recipes.RECIPES:
        assert f"recipes.py: {recipe.name}: " in done.stderr
