extension StringProtocol {
    /// Drops leading and trailing scalars that are in `set` (scalars, so "\r\n" is two).
    func trimmingCharacters(inSet set: String) -> String {
        let members = Set(set.unicodeScalars)
        var scalars = Substring(self).unicodeScalars[...]
        while let f = scalars.first, members.contains(f) { scalars = scalars.dropFirst() }
        while let l = scalars.last, members.contains(l) { scalars = scalars.dropLast() }
        return String(String.UnicodeScalarView(scalars))
    }
}
