// Dataset module: training data loading and formatting (see Package.swift).
