import Foundation
import Testing
@testable import IMAPEngine

/// SAVEDATE (RFC 8514 §4.2, §4.3): the time a message came into the mailbox (from its unique
/// name), not its INTERNALDATE (the file's mtime, a day apart for each fixture message); a
/// COPY is saved now and keeps its INTERNALDATE.
struct SaveDateTranscriptTests {
    @Test func saveDateFetchAndSearch() throws {
        let fixture = try EngineFixture()
        Transcript.check(#"""
        C: s1 SELECT INBOX
        \#(ConformanceTests.selectedFixture)
        S: s1 OK [READ-WRITE] SELECT completed
        C: s2 FETCH 1:3 (SAVEDATE INTERNALDATE)
        S: * 1 FETCH (SAVEDATE " 2-Jan-2006 15:04:05 +0000" INTERNALDATE " 2-Jan-2006 15:04:05 +0000")
        S: * 2 FETCH (SAVEDATE " 2-Jan-2006 15:04:06 +0000" INTERNALDATE " 3-Jan-2006 15:04:05 +0000")
        S: * 3 FETCH (SAVEDATE " 2-Jan-2006 15:04:07 +0000" INTERNALDATE " 4-Jan-2006 15:04:05 +0000")
        S: s2 OK FETCH completed
        C: s3 SEARCH SAVEDON 2-Jan-2006
        S: * SEARCH 1 2 3
        S: s3 OK SEARCH completed
        C: s4 SEARCH ON 3-Jan-2006
        S: * SEARCH 2
        S: s4 OK SEARCH completed
        C: s5 SEARCH OR SAVEDBEFORE 2-Jan-2006 SAVEDSINCE 3-Jan-2006
        S: * SEARCH
        S: s5 OK SEARCH completed
        C: s6 UID COPY 1 INBOX
        S: * 4 EXISTS
        S: * 4 RECENT
        S: s6 OK [COPYUID V 1 4] COPY completed
        C: s7 SEARCH SAVEDSINCE 1-Jan-2020
        S: * SEARCH 4
        S: s7 OK SEARCH completed
        C: s8 SEARCH SINCE 1-Jan-2020
        S: * SEARCH
        S: s8 OK SEARCH completed
        """#, fixture: fixture)
    }
}
