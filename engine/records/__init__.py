"""Signed records that changegate keeps in git notes: how each kind is made and verified.

A record is an in-toto Statement about a git tree, in a DSSE envelope signed with an
OpenSSH key (engine.attest), stored as one line of the note on that tree under
refs/notes/changegate/. `approvals` signs and verifies approval records; `evidence`
verifies dry-run evidence. Reading them from notes is engine.facts' job.
"""
