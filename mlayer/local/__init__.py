"""Local stand-ins for what cannot run on a laptop: AWS itself (moto) and Lambda's runtime."""
