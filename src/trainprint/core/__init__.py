"""What every stage uses: errors, configs and presets, atomic files, run records, seeding, devices,
progress bars, torch state files. Imports nothing else of trainprint."""
