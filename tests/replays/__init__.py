"""Documented wrongful-arrest chains (../shared/replays/*.yaml) replayed through the service
layer with LFW stand-in faces (docs/casework.md, "Replays")."""
