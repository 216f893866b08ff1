"""Views, one module per screen family: core (home, health), devices, jobs, audit."""
