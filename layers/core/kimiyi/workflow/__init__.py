"""Workflows: the graph of nodes and edges a call follows, checked, hashed and traversed.

Pure Python: no AWS, no LLM calls. See docs/workflows.md for the format.
"""

from .conditions import DTMF_DIGITS, OPERATORS, Condition, compare
from .config import PROVIDERS, WorkflowConfig
from .errors import Problem, WorkflowError
from .intents import INTENT_NAMES, matches_intent
from .model import NODE_TYPES, Edge, LocalizedText, MenuOption, Node
from .traversal import Advance, Step
from .validate import MAX_EDGES, MAX_GLOBAL_PROMPT, MAX_NODES, parse_workflow
from .variables import check_variables, missing_variables, render, template_errors, variable_names
from .workflow import Workflow

__all__ = [
    "DTMF_DIGITS",
    "INTENT_NAMES",
    "MAX_EDGES",
    "MAX_GLOBAL_PROMPT",
    "MAX_NODES",
    "NODE_TYPES",
    "OPERATORS",
    "PROVIDERS",
    "Advance",
    "Condition",
    "Edge",
    "LocalizedText",
    "MenuOption",
    "Node",
    "Problem",
    "Step",
    "Workflow",
    "WorkflowConfig",
    "WorkflowError",
    "check_variables",
    "compare",
    "matches_intent",
    "missing_variables",
    "parse_workflow",
    "render",
    "template_errors",
    "variable_names",
]
