"""What every command returns, one module per command's result.

The rule, for every command: a frozen dataclass whose ``to_dict()`` is the command's ``--json``
document (docs/FORMATS.md; its keys are the contract) and whose ``render()`` is the human text.
Results never print: the CLI prints, and sends their ``warnings`` to stderr.
The local commands (invoke, poll) keep theirs beside the emulation (mlayer/local/invoke_summary.py,
poll_command.py).
"""
