"""Channel providers: plugins registered under the `cantata.providers` entry-point group."""
