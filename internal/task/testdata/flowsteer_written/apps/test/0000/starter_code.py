class Solution:
    def numIdenticalPairs(self, nums: List[int]) -> int:
        