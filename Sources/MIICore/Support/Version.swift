public enum MIICoreVersion { public static let string = "0.1.0" }
