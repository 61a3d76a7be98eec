"""What to change on the PBX when the AMI link fails, in manager.conf's own words.

The hub logs each kind of failure once per streak (not at every retry), with the
lines that fix it: a refused login (wrong secret or an address not permitted),
an action the AMI user may not run (``Permission denied``), a PBX that does not
answer at all. Never the secret itself.
"""

from __future__ import annotations

from .settings import AmiConfig

_FILE = "/etc/asterisk/manager.conf (Issabel/FreePBX: manager_custom.conf)"


def login_refused(config: AmiConfig) -> str:
    """Wrong username or secret, or this host not in the user's permit list."""
    return (
        f"in {_FILE} the user must exist and let this host in:\n"
        f"  [{config.username}]\n"
        "  secret = <the same value as CTIHUB_AMI__SECRET>\n"
        "  deny = 0.0.0.0/0.0.0.0\n"
        "  permit = <this hub's address>/255.255.255.255\n"
        'then on the PBX: asterisk -rx "manager reload"; '
        f'check with: asterisk -rx "manager show user {config.username}"'
    )


def permission_denied(config: AmiConfig, action: str, write_class: str) -> str:
    """The user logged in but may not run ``action``."""
    return (
        f"the AMI user may not run {action}: in {_FILE} add {write_class} to its write list:\n"
        f"  [{config.username}]\n"
        f"  write = call,agent,reporting,originate   ; {action} needs {write_class}\n"
        'then on the PBX: asterisk -rx "manager reload"'
    )


def unreachable(config: AmiConfig) -> str:
    """Nothing answers on the AMI port, or it is not AMI."""
    return (
        f"nothing answers AMI on {config.host}:{config.port}; on the PBX, {_FILE} needs:\n"
        "  [general]\n"
        "  enabled = yes\n"
        f"  port = {config.port}\n"
        "  bindaddr = <the PBX's LAN address, reachable from this hub>\n"
        'then: asterisk -rx "manager reload" (and open the port in the PBX\'s firewall '
        "for this hub only)"
    )


WRITE_CLASS_OF = {"CoreShowChannels": "reporting", "Status": "call", "QueuePause": "agent"}
"""The write class Asterisk checks for the actions the hub runs on its own."""
