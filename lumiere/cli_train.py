"""``lumiere train --list | --scenario NAME [--seed N] [--auto] | --check NAME --answer TEXT``.

Training scenarios on the simulated instrument (:mod:`lumiere.training`). ``--scenario`` prints the
goal and how to proceed; with ``--auto`` a scripted trainee runs the scenario end to end and the
check's report is printed (demos, tests). ``--check`` checks a typed answer against the hidden
truth of the scenario's world for the same ``--seed``. Exit status: 0 pass, 1 fail/error.
"""
from __future__ import annotations

import argparse
import sys

from lumiere.cli_checks import non_negative_int


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_mutually_exclusive_group(required=True)
    g.add_argument("--list", action="store_true", help="list the scenarios")
    g.add_argument("--scenario", metavar="NAME", help="set up a scenario and print its goal")
    g.add_argument("--check", metavar="NAME", help="check an --answer for scenario NAME")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="world seed (the hidden truth depends on it; default 0)")
    parser.add_argument("--auto", action="store_true", help="run the scripted (correct) trainee and print the report")
    parser.add_argument("--answer", default=None, help="the trainee's result for --check (see --scenario NAME)")


def run(args: argparse.Namespace) -> int:
    from lumiere.training import SCENARIOS, get_scenario

    if args.list:
        width = max(len(n) for n in SCENARIOS)
        for name, s in SCENARIOS.items():
            print(f"{name:<{width}}  {s.title}")
        return 0
    if args.check:
        scenario = get_scenario(args.check)
        if args.answer is None:
            raise ValueError(f"--check {args.check} needs --answer ({scenario.answer_help or 'not available'})")
        answer = scenario.parse_answer(args.answer)
        with scenario.setup(args.seed) as session:
            report = scenario.check(session, answer)
        print(f"{scenario.title} (seed {args.seed}):\n{report.text()}")
        return 0 if report.passed else 1
    scenario = get_scenario(args.scenario)
    print(f"{scenario.title}  [{scenario.name}, seed {args.seed}]\n\nGoal: {scenario.goal}\n")
    if not args.auto:
        print(f"How: {scenario.how_to}\n")
        if scenario.answer_help:
            print(f"Submit: lumiere train --check {scenario.name} --seed {args.seed} --answer ANSWER\n"
                  f"        (ANSWER: {scenario.answer_help})")
        else:
            print("Submit: with Check in the 'Lumière training' panel (the result is the SI itself).")
        return 0
    print("scripted trainee running …", file=sys.stderr)
    with scenario.setup(args.seed) as session:
        result = scenario.run_trainee(session)
        report = scenario.check(session, result)
        for m in session.messages:
            print(m)
    print(report.text())
    return 0 if report.passed else 1
