// ModelFiles module: see Package.swift for its concern.
