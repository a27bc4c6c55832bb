// ClangSupport
