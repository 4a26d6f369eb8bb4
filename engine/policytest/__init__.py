"""Policy tests: changes described in YAML, judged offline by the real engine (`policy test`).

spec.py reads and checks test files (with file:line problems, against
policies/schema/policy-tests.schema.json); world.py turns a case into `MemoryFacts`;
run.py judges each case with the compiled policy and compares the decision with the one
expected.
"""
