"""Subject and queue names, without the deployment prefix."""


def work_subject(runtime: str) -> str:
    return f"work.generate.{runtime}"


def queue_name(runtime: str) -> str:
    return f"generate_{runtime}"


def token_subject(generation_id: str) -> str:
    return f"tokens.{generation_id}"


def cancel_subject(generation_id: str) -> str:
    return f"control.cancel.{generation_id}"


DOWNLOAD_SUBJECT = "work.download"
DOWNLOAD_QUEUE = "download"
