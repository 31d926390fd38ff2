// SPDX-License-Identifier: Apache-2.0
// A corrupt (not truncated) gzip stream: format detection never throws on it, gunzip / read_file and the
// .xml.gz loader reject it with a FormatError naming the file (the contract of docs/errors.md).
#include <gtest/gtest.h>

#include <zlib.h>

#include <cstdio>
#include <fstream>
#include <string>

#include <portml/io/error.hpp>
#include <portml/io/forest_loaders.hpp>
#include <portml/io/format.hpp>

namespace portml::io {
namespace {

std::string gzip_of(const std::string& s) {
  z_stream zs{};
  deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(compressBound(static_cast<uLong>(s.size())) + 64, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(s.data()));
  zs.avail_in = static_cast<uInt>(s.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

std::string write_temp(const std::string& name, const std::string& bytes) {
  const std::string path = ::testing::TempDir() + name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

//! gunzip of `gz` must throw a FormatError naming `file`.
void expect_rejected(const std::string& gz, const std::string& what) {
  try {
    const std::string out = gunzip(gz, "w.xml.gz");
    ADD_FAILURE() << what << ": no exception (" << out.size() << " bytes out)";
  } catch (const FormatError& e) {
    EXPECT_EQ(e.file(), "w.xml.gz") << what;
    EXPECT_NE(std::string(e.what()).find("gzip stream"), std::string::npos) << what << ": " << e.what();
  }
}

TEST(GzipCorrupt, DetectionNeverThrowsReadingFails) {
  std::string xml = "<?xml version=\"1.0\"?>\n<MethodSetup Method=\"BDT::BDT\">\n";
  for (int i = 0; i < 200; ++i) xml += "  <Node pos=\"l\" depth=\"" + std::to_string(i) + "\"/>\n";
  xml += "</MethodSetup>\n";
  const std::string gz = gzip_of(xml);
  ASSERT_GT(gz.size(), 40u);
  // A CRC-32 that does not match the inflated bytes (the whole stream is present).
  std::string bad_crc = gz;
  bad_crc[bad_crc.size() - 8] = static_cast<char>(bad_crc[bad_crc.size() - 8] ^ 0x5a);
  expect_rejected(bad_crc, "bad CRC");
  // A length field (ISIZE) that does not match.
  std::string bad_len = gz;
  bad_len[bad_len.size() - 4] = static_cast<char>(bad_len[bad_len.size() - 4] ^ 0x01);
  expect_rejected(bad_len, "bad ISIZE");
  // An invalid deflate block type (BTYPE = 11) right after the 10-byte header.
  std::string bad_block = gz;
  bad_block[10] = static_cast<char>(bad_block[10] | 0x06);
  expect_rejected(bad_block, "reserved block type");
  // A wrong compression method in the header.
  std::string bad_method = gz;
  bad_method[2] = 9;
  EXPECT_NO_THROW((void)detect_format(std::as_bytes(std::span(bad_method.data(), bad_method.size()))));
  // Bytes flipped all through the compressed body: never a crash; detection never throws, and reading the
  // whole stream is an error (a flipped body always breaks the CRC, the lengths or the deflate codes).
  for (std::size_t at = 10; at + 8 < gz.size(); at += 3) {
    std::string c = gz;
    c[at] = static_cast<char>(c[at] ^ 0xff);
    EXPECT_NO_THROW((void)detect_format(std::as_bytes(std::span(c.data(), c.size())))) << at;
    EXPECT_THROW((void)gunzip(c, "w.xml.gz"), FormatError) << "byte " << at;
  }
  // From a file: read_file and detect_format_file.
  const std::string path = write_temp("portml_corrupt.xml.gz", bad_crc);
  EXPECT_NO_THROW((void)detect_format_file(path));
  try {
    (void)read_file(path);
    ADD_FAILURE() << "no exception";
  } catch (const FormatError& e) {
    EXPECT_EQ(e.file(), path);
  }
  std::remove(path.c_str());
}

TEST(GzipCorrupt, TmvaXmlGzLoaderRejectsACorruptStream) {
  const std::string real = read_file(std::string(PORTML_TEST_DATA) + "/bdt/tmva_adaboost_purity.weights.xml");
  const std::string gz = gzip_of(real);
  const std::string good = write_temp("portml_good.weights.xml.gz", gz);
  EXPECT_NO_THROW((void)load_tmva_xml(good));
  std::string c = gz;
  c[c.size() / 2] = static_cast<char>(c[c.size() / 2] ^ 0xff);  // the middle of the deflate body
  const std::string bad = write_temp("portml_bad.weights.xml.gz", c);
  try {
    (void)load_tmva_xml(bad);
    ADD_FAILURE() << "no exception";
  } catch (const FormatError& e) {
    EXPECT_EQ(e.file(), bad) << e.what();
  }
  std::remove(good.c_str());
  std::remove(bad.c_str());
}

}  // namespace
}  // namespace portml::io
