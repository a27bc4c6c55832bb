// GILCheckKit
