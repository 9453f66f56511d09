"""A stand-in for Azure ML's `azureml_user.parallel_run.EntryScript`, which entry scripts of
parallel jobs use for their logger and folders. Written beside Sluice's parallel-job driver."""

import logging
import os
import sys


class EntryScript:
    """What an entry script asks of Azure's: `logger`, `working_dir`, `output_dir`, `log_dir`."""

    def __init__(self):
        self.working_dir = os.getcwd()
        base = os.environ.get("SLUICE_PARALLEL_DIR", self.working_dir)
        self.output_dir = os.path.join(base, "output")
        self.log_dir = os.path.join(base, "logs")
        os.makedirs(self.output_dir, exist_ok=True)
        os.makedirs(self.log_dir, exist_ok=True)
        self.logger = logging.getLogger("entry_script")
        if not self.logger.handlers:
            handler = logging.StreamHandler(sys.stdout)
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
            self.logger.addHandler(handler)
            level = os.environ.get("SLUICE_PARALLEL_LOGGING_LEVEL", "INFO").upper()
            self.logger.setLevel(getattr(logging, level, logging.INFO))
