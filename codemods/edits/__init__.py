"""Fix building shared by the rules: imports (``imports``), re-indentation
(``indent``), parameters (``params``) and comments (``comments``)."""
