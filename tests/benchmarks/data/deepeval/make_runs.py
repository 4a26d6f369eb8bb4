import sys

from deepeval import evaluate
from deepeval.metrics import ExactMatchMetric
from deepeval.test_case import LLMTestCase

side = sys.argv[1]
cases = []
for i in range(30):
    expected = str(i * 3 % 17)
    wrong = side == "candidate" and i % 5 == 0   # the candidate gets 6 of 30 wrong
    cases.append(LLMTestCase(name=f"sum_{i}", input=f"What is {i} * 3 mod 17?",
                             actual_output=("unsure" if wrong else expected), expected_output=expected))
evaluate(test_cases=cases, metrics=[ExactMatchMetric()])
