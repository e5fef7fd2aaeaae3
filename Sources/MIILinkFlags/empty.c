// Holds the link flags of the libmii.so product only (see Package.swift).
