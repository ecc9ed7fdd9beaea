"""Fix building shared by the rules: imports (``imports``), re-indentation
(``indent``), parameters (``params``), call arguments and display elements
(``arguments``) and comments (``comments``)."""
