"""Everything that talks to the Hugging Face Hub (DESIGN §4, §5, §8).

client.py  repo-id / ref / token checks, one-line HubError translation, downloads and snapshots
push.py    ``vintix-data push``: a validated folder as one commit, then a tag
verify.py  ``vintix-data verify``: a published revision checked as a new user would meet it
"""

from vintix_data.hub.client import HubError, check_repo_id, download_file, require_token, snapshot

__all__ = ["HubError", "check_repo_id", "download_file", "require_token", "snapshot"]
