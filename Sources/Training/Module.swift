// Training module: LoRA fine-tuning (see Package.swift).
