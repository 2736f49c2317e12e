#!/usr/bin/env python3
"""Regenerate the WfCommons workflow instances under Examples/wfcommons.

Builds one synthetic instance each of Montage, Epigenomics and 1000Genome
with the WfChef recipes shipped in WfCommons, and writes them in WfFormat
JSON (schemaVersion "1.6", the format written by WfCommons 1.6):

    Examples/wfcommons/montage.json      Montage,     994 tasks
    Examples/wfcommons/epigenomics.json  Epigenomics, 499 tasks
    Examples/wfcommons/genome.json       1000Genome,  800 tasks

Requires:

    pip install wfcommons==1.6

Usage:

    python3 scripts/wfcommons-instances.py [--output-dir DIR] [--seed N]

The recipes only grow a base graph by whole microstructures, so the task
counts above are the closest each recipe reaches to 1000, 500 and 800 tasks.
The recipes draw from Python's `random`, NumPy's global generator and
`uuid.uuid4` (for node and file names); all three are seeded here, and the
timestamps and author are fixed, so the same seed and WfCommons version give
byte-identical files.
"""

import argparse
import pathlib
import random
import sys
import uuid

import numpy as np

import wfcommons.wfchef.duplicate
from wfcommons.version import __version__ as WFCOMMONS_VERSION
from wfcommons.wfchef.recipes import EpigenomicsRecipe, GenomeRecipe, MontageRecipe

EXPECTED_WFCOMMONS_VERSION = "1.6"
DEFAULT_SEED = 1
FIXED_TIMESTAMP = "2025-01-01T00:00:00+00:00"
REPOSITORY_ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT_DIR = REPOSITORY_ROOT / "Examples" / "wfcommons"

# (file name, workflow name, recipe, num_tasks passed to the recipe, expected task count).
# The num_tasks values are upper bounds that, with the default seed, land on the
# expected counts.
INSTANCES = [
    ("montage.json", "montage", MontageRecipe, 1000, 994),
    ("epigenomics.json", "epigenomics", EpigenomicsRecipe, 501, 499),
    ("genome.json", "1000genome", GenomeRecipe, 802, 800),
]


def seed_generators(seed: int) -> None:
    """Seed every source of randomness the WfChef recipes use."""
    random.seed(seed)
    np.random.seed(seed)
    names = random.Random(seed)

    def seeded_uuid4() -> uuid.UUID:
        return uuid.UUID(int=names.getrandbits(128), version=4)

    # File names come from uuid.uuid4(); duplicated graph nodes from a
    # module-level `uuid4` imported by wfcommons.wfchef.duplicate.
    uuid.uuid4 = seeded_uuid4
    wfcommons.wfchef.duplicate.uuid4 = seeded_uuid4


def build_instance(recipe_class, num_tasks: int, workflow_name: str, seed: int):
    seed_generators(seed)
    recipe = recipe_class.from_num_tasks(num_tasks)
    workflow = recipe.build_workflow(workflow_name)
    workflow.created_at = FIXED_TIMESTAMP
    workflow.executed_at = FIXED_TIMESTAMP
    workflow.author_name = "WfCommons"
    workflow.runtime_system_version = WFCOMMONS_VERSION
    return workflow


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=pathlib.Path, default=DEFAULT_OUTPUT_DIR,
                        help=f"directory for the JSON files (default: {DEFAULT_OUTPUT_DIR})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED,
                        help=f"random seed (default: {DEFAULT_SEED})")
    args = parser.parse_args()

    if WFCOMMONS_VERSION != EXPECTED_WFCOMMONS_VERSION:
        print(f"warning: wfcommons {WFCOMMONS_VERSION} is installed; these instances were made "
              f"with {EXPECTED_WFCOMMONS_VERSION} and may differ", file=sys.stderr)

    args.output_dir.mkdir(parents=True, exist_ok=True)
    for file_name, workflow_name, recipe_class, num_tasks, expected_tasks in INSTANCES:
        workflow = build_instance(recipe_class, num_tasks, workflow_name, args.seed)
        path = args.output_dir / file_name
        workflow.write_json(path)
        task_count = len(workflow.nodes)
        note = "" if task_count == expected_tasks else f" (expected {expected_tasks})"
        print(f"{path}: {task_count} tasks, {workflow.number_of_edges()} edges{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
