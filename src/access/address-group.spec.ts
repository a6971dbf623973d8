import { addressGroup } from './address-group.js';

describe(addressGroup.name, () => {
  it.each([
    ['203.0.113.7', '203.0.113.7'],
    ['::ffff:203.0.113.7', '203.0.113.7'],
    ['2001:db8:1:2:aaaa::1', '2001:db8:1:2::/64'],
    ['2001:0db8:0001:0002:ffff:ffff:ffff:ffff', '2001:db8:1:2::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['2001:db8:0:0:1::', '2001:db8:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['64:ff9b::198.51.100.1', '64:ff9b:0:0::/64'],
  ])('groups %s under %s', (address, group) => {
    expect(addressGroup(address)).toBe(group);
  });

  it('puts two addresses of one /64 in one group and a neighbouring /64 in another', () => {
    expect(addressGroup('2001:db8:1:2::a')).toBe(addressGroup('2001:db8:1:2:ffff::b'));
    expect(addressGroup('2001:db8:1:3::a')).not.toBe(addressGroup('2001:db8:1:2::a'));
  });
});
