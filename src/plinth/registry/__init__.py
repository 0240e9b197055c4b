"""The registry's business rules, pure and IO-free: promotion gates and the governance rule
that only an approved promotion moves a version into Production or a protected alias."""
