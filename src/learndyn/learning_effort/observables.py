"""What is measured on controlled learning (Carrasco-Davis, Masís & Saxe, arXiv:2310.19919)."""
