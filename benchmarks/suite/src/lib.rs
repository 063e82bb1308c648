//! 200 tests, each doing a little real work (hashing a buffer).

pub fn checksum(seed: u64) -> u64 {
    (0..20_000u64).fold(seed, |acc, x| acc.rotate_left(5) ^ x.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

#[cfg(test)]
mod tests {
    use super::checksum;

    #[test]
    fn case_000() {
        assert_eq!(checksum(0), checksum(0));
    }

    #[test]
    fn case_001() {
        assert_eq!(checksum(1), checksum(1));
    }

    #[test]
    fn case_002() {
        assert_eq!(checksum(2), checksum(2));
    }

    #[test]
    fn case_003() {
        assert_eq!(checksum(3), checksum(3));
    }

    #[test]
    fn case_004() {
        assert_eq!(checksum(4), checksum(4));
    }

    #[test]
    fn case_005() {
        assert_eq!(checksum(5), checksum(5));
    }

    #[test]
    fn case_006() {
        assert_eq!(checksum(6), checksum(6));
    }

    #[test]
    fn case_007() {
        assert_eq!(checksum(7), checksum(7));
    }

    #[test]
    fn case_008() {
        assert_eq!(checksum(8), checksum(8));
    }

    #[test]
    fn case_009() {
        assert_eq!(checksum(9), checksum(9));
    }

    #[test]
    fn case_010() {
        assert_eq!(checksum(10), checksum(10));
    }

    #[test]
    fn case_011() {
        assert_eq!(checksum(11), checksum(11));
    }

    #[test]
    fn case_012() {
        assert_eq!(checksum(12), checksum(12));
    }

    #[test]
    fn case_013() {
        assert_eq!(checksum(13), checksum(13));
    }

    #[test]
    fn case_014() {
        assert_eq!(checksum(14), checksum(14));
    }

    #[test]
    fn case_015() {
        assert_eq!(checksum(15), checksum(15));
    }

    #[test]
    fn case_016() {
        assert_eq!(checksum(16), checksum(16));
    }

    #[test]
    fn case_017() {
        assert_eq!(checksum(17), checksum(17));
    }

    #[test]
    fn case_018() {
        assert_eq!(checksum(18), checksum(18));
    }

    #[test]
    fn case_019() {
        assert_eq!(checksum(19), checksum(19));
    }

    #[test]
    fn case_020() {
        assert_eq!(checksum(20), checksum(20));
    }

    #[test]
    fn case_021() {
        assert_eq!(checksum(21), checksum(21));
    }

    #[test]
    fn case_022() {
        assert_eq!(checksum(22), checksum(22));
    }

    #[test]
    fn case_023() {
        assert_eq!(checksum(23), checksum(23));
    }

    #[test]
    fn case_024() {
        assert_eq!(checksum(24), checksum(24));
    }

    #[test]
    fn case_025() {
        assert_eq!(checksum(25), checksum(25));
    }

    #[test]
    fn case_026() {
        assert_eq!(checksum(26), checksum(26));
    }

    #[test]
    fn case_027() {
        assert_eq!(checksum(27), checksum(27));
    }

    #[test]
    fn case_028() {
        assert_eq!(checksum(28), checksum(28));
    }

    #[test]
    fn case_029() {
        assert_eq!(checksum(29), checksum(29));
    }

    #[test]
    fn case_030() {
        assert_eq!(checksum(30), checksum(30));
    }

    #[test]
    fn case_031() {
        assert_eq!(checksum(31), checksum(31));
    }

    #[test]
    fn case_032() {
        assert_eq!(checksum(32), checksum(32));
    }

    #[test]
    fn case_033() {
        assert_eq!(checksum(33), checksum(33));
    }

    #[test]
    fn case_034() {
        assert_eq!(checksum(34), checksum(34));
    }

    #[test]
    fn case_035() {
        assert_eq!(checksum(35), checksum(35));
    }

    #[test]
    fn case_036() {
        assert_eq!(checksum(36), checksum(36));
    }

    #[test]
    fn case_037() {
        assert_eq!(checksum(37), checksum(37));
    }

    #[test]
    fn case_038() {
        assert_eq!(checksum(38), checksum(38));
    }

    #[test]
    fn case_039() {
        assert_eq!(checksum(39), checksum(39));
    }

    #[test]
    fn case_040() {
        assert_eq!(checksum(40), checksum(40));
    }

    #[test]
    fn case_041() {
        assert_eq!(checksum(41), checksum(41));
    }

    #[test]
    fn case_042() {
        assert_eq!(checksum(42), checksum(42));
    }

    #[test]
    fn case_043() {
        assert_eq!(checksum(43), checksum(43));
    }

    #[test]
    fn case_044() {
        assert_eq!(checksum(44), checksum(44));
    }

    #[test]
    fn case_045() {
        assert_eq!(checksum(45), checksum(45));
    }

    #[test]
    fn case_046() {
        assert_eq!(checksum(46), checksum(46));
    }

    #[test]
    fn case_047() {
        assert_eq!(checksum(47), checksum(47));
    }

    #[test]
    fn case_048() {
        assert_eq!(checksum(48), checksum(48));
    }

    #[test]
    fn case_049() {
        assert_eq!(checksum(49), checksum(49));
    }

    #[test]
    fn case_050() {
        assert_eq!(checksum(50), checksum(50));
    }

    #[test]
    fn case_051() {
        assert_eq!(checksum(51), checksum(51));
    }

    #[test]
    fn case_052() {
        assert_eq!(checksum(52), checksum(52));
    }

    #[test]
    fn case_053() {
        assert_eq!(checksum(53), checksum(53));
    }

    #[test]
    fn case_054() {
        assert_eq!(checksum(54), checksum(54));
    }

    #[test]
    fn case_055() {
        assert_eq!(checksum(55), checksum(55));
    }

    #[test]
    fn case_056() {
        assert_eq!(checksum(56), checksum(56));
    }

    #[test]
    fn case_057() {
        assert_eq!(checksum(57), checksum(57));
    }

    #[test]
    fn case_058() {
        assert_eq!(checksum(58), checksum(58));
    }

    #[test]
    fn case_059() {
        assert_eq!(checksum(59), checksum(59));
    }

    #[test]
    fn case_060() {
        assert_eq!(checksum(60), checksum(60));
    }

    #[test]
    fn case_061() {
        assert_eq!(checksum(61), checksum(61));
    }

    #[test]
    fn case_062() {
        assert_eq!(checksum(62), checksum(62));
    }

    #[test]
    fn case_063() {
        assert_eq!(checksum(63), checksum(63));
    }

    #[test]
    fn case_064() {
        assert_eq!(checksum(64), checksum(64));
    }

    #[test]
    fn case_065() {
        assert_eq!(checksum(65), checksum(65));
    }

    #[test]
    fn case_066() {
        assert_eq!(checksum(66), checksum(66));
    }

    #[test]
    fn case_067() {
        assert_eq!(checksum(67), checksum(67));
    }

    #[test]
    fn case_068() {
        assert_eq!(checksum(68), checksum(68));
    }

    #[test]
    fn case_069() {
        assert_eq!(checksum(69), checksum(69));
    }

    #[test]
    fn case_070() {
        assert_eq!(checksum(70), checksum(70));
    }

    #[test]
    fn case_071() {
        assert_eq!(checksum(71), checksum(71));
    }

    #[test]
    fn case_072() {
        assert_eq!(checksum(72), checksum(72));
    }

    #[test]
    fn case_073() {
        assert_eq!(checksum(73), checksum(73));
    }

    #[test]
    fn case_074() {
        assert_eq!(checksum(74), checksum(74));
    }

    #[test]
    fn case_075() {
        assert_eq!(checksum(75), checksum(75));
    }

    #[test]
    fn case_076() {
        assert_eq!(checksum(76), checksum(76));
    }

    #[test]
    fn case_077() {
        assert_eq!(checksum(77), checksum(77));
    }

    #[test]
    fn case_078() {
        assert_eq!(checksum(78), checksum(78));
    }

    #[test]
    fn case_079() {
        assert_eq!(checksum(79), checksum(79));
    }

    #[test]
    fn case_080() {
        assert_eq!(checksum(80), checksum(80));
    }

    #[test]
    fn case_081() {
        assert_eq!(checksum(81), checksum(81));
    }

    #[test]
    fn case_082() {
        assert_eq!(checksum(82), checksum(82));
    }

    #[test]
    fn case_083() {
        assert_eq!(checksum(83), checksum(83));
    }

    #[test]
    fn case_084() {
        assert_eq!(checksum(84), checksum(84));
    }

    #[test]
    fn case_085() {
        assert_eq!(checksum(85), checksum(85));
    }

    #[test]
    fn case_086() {
        assert_eq!(checksum(86), checksum(86));
    }

    #[test]
    fn case_087() {
        assert_eq!(checksum(87), checksum(87));
    }

    #[test]
    fn case_088() {
        assert_eq!(checksum(88), checksum(88));
    }

    #[test]
    fn case_089() {
        assert_eq!(checksum(89), checksum(89));
    }

    #[test]
    fn case_090() {
        assert_eq!(checksum(90), checksum(90));
    }

    #[test]
    fn case_091() {
        assert_eq!(checksum(91), checksum(91));
    }

    #[test]
    fn case_092() {
        assert_eq!(checksum(92), checksum(92));
    }

    #[test]
    fn case_093() {
        assert_eq!(checksum(93), checksum(93));
    }

    #[test]
    fn case_094() {
        assert_eq!(checksum(94), checksum(94));
    }

    #[test]
    fn case_095() {
        assert_eq!(checksum(95), checksum(95));
    }

    #[test]
    fn case_096() {
        assert_eq!(checksum(96), checksum(96));
    }

    #[test]
    fn case_097() {
        assert_eq!(checksum(97), checksum(97));
    }

    #[test]
    fn case_098() {
        assert_eq!(checksum(98), checksum(98));
    }

    #[test]
    fn case_099() {
        assert_eq!(checksum(99), checksum(99));
    }

    #[test]
    fn case_100() {
        assert_eq!(checksum(100), checksum(100));
    }

    #[test]
    fn case_101() {
        assert_eq!(checksum(101), checksum(101));
    }

    #[test]
    fn case_102() {
        assert_eq!(checksum(102), checksum(102));
    }

    #[test]
    fn case_103() {
        assert_eq!(checksum(103), checksum(103));
    }

    #[test]
    fn case_104() {
        assert_eq!(checksum(104), checksum(104));
    }

    #[test]
    fn case_105() {
        assert_eq!(checksum(105), checksum(105));
    }

    #[test]
    fn case_106() {
        assert_eq!(checksum(106), checksum(106));
    }

    #[test]
    fn case_107() {
        assert_eq!(checksum(107), checksum(107));
    }

    #[test]
    fn case_108() {
        assert_eq!(checksum(108), checksum(108));
    }

    #[test]
    fn case_109() {
        assert_eq!(checksum(109), checksum(109));
    }

    #[test]
    fn case_110() {
        assert_eq!(checksum(110), checksum(110));
    }

    #[test]
    fn case_111() {
        assert_eq!(checksum(111), checksum(111));
    }

    #[test]
    fn case_112() {
        assert_eq!(checksum(112), checksum(112));
    }

    #[test]
    fn case_113() {
        assert_eq!(checksum(113), checksum(113));
    }

    #[test]
    fn case_114() {
        assert_eq!(checksum(114), checksum(114));
    }

    #[test]
    fn case_115() {
        assert_eq!(checksum(115), checksum(115));
    }

    #[test]
    fn case_116() {
        assert_eq!(checksum(116), checksum(116));
    }

    #[test]
    fn case_117() {
        assert_eq!(checksum(117), checksum(117));
    }

    #[test]
    fn case_118() {
        assert_eq!(checksum(118), checksum(118));
    }

    #[test]
    fn case_119() {
        assert_eq!(checksum(119), checksum(119));
    }

    #[test]
    fn case_120() {
        assert_eq!(checksum(120), checksum(120));
    }

    #[test]
    fn case_121() {
        assert_eq!(checksum(121), checksum(121));
    }

    #[test]
    fn case_122() {
        assert_eq!(checksum(122), checksum(122));
    }

    #[test]
    fn case_123() {
        assert_eq!(checksum(123), checksum(123));
    }

    #[test]
    fn case_124() {
        assert_eq!(checksum(124), checksum(124));
    }

    #[test]
    fn case_125() {
        assert_eq!(checksum(125), checksum(125));
    }

    #[test]
    fn case_126() {
        assert_eq!(checksum(126), checksum(126));
    }

    #[test]
    fn case_127() {
        assert_eq!(checksum(127), checksum(127));
    }

    #[test]
    fn case_128() {
        assert_eq!(checksum(128), checksum(128));
    }

    #[test]
    fn case_129() {
        assert_eq!(checksum(129), checksum(129));
    }

    #[test]
    fn case_130() {
        assert_eq!(checksum(130), checksum(130));
    }

    #[test]
    fn case_131() {
        assert_eq!(checksum(131), checksum(131));
    }

    #[test]
    fn case_132() {
        assert_eq!(checksum(132), checksum(132));
    }

    #[test]
    fn case_133() {
        assert_eq!(checksum(133), checksum(133));
    }

    #[test]
    fn case_134() {
        assert_eq!(checksum(134), checksum(134));
    }

    #[test]
    fn case_135() {
        assert_eq!(checksum(135), checksum(135));
    }

    #[test]
    fn case_136() {
        assert_eq!(checksum(136), checksum(136));
    }

    #[test]
    fn case_137() {
        assert_eq!(checksum(137), checksum(137));
    }

    #[test]
    fn case_138() {
        assert_eq!(checksum(138), checksum(138));
    }

    #[test]
    fn case_139() {
        assert_eq!(checksum(139), checksum(139));
    }

    #[test]
    fn case_140() {
        assert_eq!(checksum(140), checksum(140));
    }

    #[test]
    fn case_141() {
        assert_eq!(checksum(141), checksum(141));
    }

    #[test]
    fn case_142() {
        assert_eq!(checksum(142), checksum(142));
    }

    #[test]
    fn case_143() {
        assert_eq!(checksum(143), checksum(143));
    }

    #[test]
    fn case_144() {
        assert_eq!(checksum(144), checksum(144));
    }

    #[test]
    fn case_145() {
        assert_eq!(checksum(145), checksum(145));
    }

    #[test]
    fn case_146() {
        assert_eq!(checksum(146), checksum(146));
    }

    #[test]
    fn case_147() {
        assert_eq!(checksum(147), checksum(147));
    }

    #[test]
    fn case_148() {
        assert_eq!(checksum(148), checksum(148));
    }

    #[test]
    fn case_149() {
        assert_eq!(checksum(149), checksum(149));
    }

    #[test]
    fn case_150() {
        assert_eq!(checksum(150), checksum(150));
    }

    #[test]
    fn case_151() {
        assert_eq!(checksum(151), checksum(151));
    }

    #[test]
    fn case_152() {
        assert_eq!(checksum(152), checksum(152));
    }

    #[test]
    fn case_153() {
        assert_eq!(checksum(153), checksum(153));
    }

    #[test]
    fn case_154() {
        assert_eq!(checksum(154), checksum(154));
    }

    #[test]
    fn case_155() {
        assert_eq!(checksum(155), checksum(155));
    }

    #[test]
    fn case_156() {
        assert_eq!(checksum(156), checksum(156));
    }

    #[test]
    fn case_157() {
        assert_eq!(checksum(157), checksum(157));
    }

    #[test]
    fn case_158() {
        assert_eq!(checksum(158), checksum(158));
    }

    #[test]
    fn case_159() {
        assert_eq!(checksum(159), checksum(159));
    }

    #[test]
    fn case_160() {
        assert_eq!(checksum(160), checksum(160));
    }

    #[test]
    fn case_161() {
        assert_eq!(checksum(161), checksum(161));
    }

    #[test]
    fn case_162() {
        assert_eq!(checksum(162), checksum(162));
    }

    #[test]
    fn case_163() {
        assert_eq!(checksum(163), checksum(163));
    }

    #[test]
    fn case_164() {
        assert_eq!(checksum(164), checksum(164));
    }

    #[test]
    fn case_165() {
        assert_eq!(checksum(165), checksum(165));
    }

    #[test]
    fn case_166() {
        assert_eq!(checksum(166), checksum(166));
    }

    #[test]
    fn case_167() {
        assert_eq!(checksum(167), checksum(167));
    }

    #[test]
    fn case_168() {
        assert_eq!(checksum(168), checksum(168));
    }

    #[test]
    fn case_169() {
        assert_eq!(checksum(169), checksum(169));
    }

    #[test]
    fn case_170() {
        assert_eq!(checksum(170), checksum(170));
    }

    #[test]
    fn case_171() {
        assert_eq!(checksum(171), checksum(171));
    }

    #[test]
    fn case_172() {
        assert_eq!(checksum(172), checksum(172));
    }

    #[test]
    fn case_173() {
        assert_eq!(checksum(173), checksum(173));
    }

    #[test]
    fn case_174() {
        assert_eq!(checksum(174), checksum(174));
    }

    #[test]
    fn case_175() {
        assert_eq!(checksum(175), checksum(175));
    }

    #[test]
    fn case_176() {
        assert_eq!(checksum(176), checksum(176));
    }

    #[test]
    fn case_177() {
        assert_eq!(checksum(177), checksum(177));
    }

    #[test]
    fn case_178() {
        assert_eq!(checksum(178), checksum(178));
    }

    #[test]
    fn case_179() {
        assert_eq!(checksum(179), checksum(179));
    }

    #[test]
    fn case_180() {
        assert_eq!(checksum(180), checksum(180));
    }

    #[test]
    fn case_181() {
        assert_eq!(checksum(181), checksum(181));
    }

    #[test]
    fn case_182() {
        assert_eq!(checksum(182), checksum(182));
    }

    #[test]
    fn case_183() {
        assert_eq!(checksum(183), checksum(183));
    }

    #[test]
    fn case_184() {
        assert_eq!(checksum(184), checksum(184));
    }

    #[test]
    fn case_185() {
        assert_eq!(checksum(185), checksum(185));
    }

    #[test]
    fn case_186() {
        assert_eq!(checksum(186), checksum(186));
    }

    #[test]
    fn case_187() {
        assert_eq!(checksum(187), checksum(187));
    }

    #[test]
    fn case_188() {
        assert_eq!(checksum(188), checksum(188));
    }

    #[test]
    fn case_189() {
        assert_eq!(checksum(189), checksum(189));
    }

    #[test]
    fn case_190() {
        assert_eq!(checksum(190), checksum(190));
    }

    #[test]
    fn case_191() {
        assert_eq!(checksum(191), checksum(191));
    }

    #[test]
    fn case_192() {
        assert_eq!(checksum(192), checksum(192));
    }

    #[test]
    fn case_193() {
        assert_eq!(checksum(193), checksum(193));
    }

    #[test]
    fn case_194() {
        assert_eq!(checksum(194), checksum(194));
    }

    #[test]
    fn case_195() {
        assert_eq!(checksum(195), checksum(195));
    }

    #[test]
    fn case_196() {
        assert_eq!(checksum(196), checksum(196));
    }

    #[test]
    fn case_197() {
        assert_eq!(checksum(197), checksum(197));
    }

    #[test]
    fn case_198() {
        assert_eq!(checksum(198), checksum(198));
    }

    #[test]
    fn case_199() {
        assert_eq!(checksum(199), checksum(199));
    }

}
